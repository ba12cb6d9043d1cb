"""Each provider's prompt-cache accounting, emulated.

OpenAI: prefixes of >= 1,024 tokens are cached in 128-token steps; a request reads the longest cached step.
Anthropic: entries are written only at `cache_control` breakpoints whose prefix reaches the model minimum; a request
reads the longest cached breakpoint prefix, writes every later breakpoint, 5m or 1h TTL refreshed on every read; an
entry becomes readable only once the response that wrote it is complete (`commit`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass
class _Entry:
    expires_at: float
    ttl_seconds: float


@dataclass
class PendingWrites:
    keys: list[tuple[str, float]] = field(default_factory=list)  # (prefix hash, ttl seconds)


class PrefixCache:
    """Thread-safe prefix-hash -> expiry store with sliding TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def read(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.expires_at <= now:
                self._entries.pop(key, None)
                return False
            entry.expires_at = now + entry.ttl_seconds  # reading refreshes the TTL
            return True

    def commit(self, pending: PendingWrites) -> None:
        now = self._clock()
        with self._lock:
            for key, requested_ttl in pending.keys:
                current = self._entries.get(key)
                live = current is not None and current.expires_at > now
                ttl = max(requested_ttl, current.ttl_seconds) if live and current is not None else requested_ttl
                self._entries[key] = _Entry(now + ttl, ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True)
class CacheAccount:
    read_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    pending: PendingWrites


def openai_account(
    cache: PrefixCache, model: str, tokens: Sequence[int], *, minimum: int, step: int, retention_s: float
) -> CacheAccount:
    digest = hashlib.sha256(model.encode())
    boundaries: list[tuple[int, str]] = []
    position = 0
    for end in range(minimum, len(tokens) + 1, step):
        digest.update(b"".join(t.to_bytes(4, "little") for t in tokens[position:end]))
        position = end
        boundaries.append((end, digest.copy().hexdigest()))
    read = 0
    for length, key in reversed(boundaries):
        if cache.read(key):
            read = length
            break
    pending = PendingWrites([(key, retention_s) for length, key in boundaries if length > read])
    # OpenAI bills cache writes at the normal input price and reports none: only reads appear in usage
    return CacheAccount(read, 0, 0, pending)


@dataclass(frozen=True)
class Block:
    """One block of the Anthropic prefix, in order tools -> system -> messages."""

    material: Any  # the block without cache_control: what the prefix hash covers
    tokens: int
    breakpoint_ttl: str | None  # "5m" / "1h" where the block carries cache_control


def anthropic_account(cache: PrefixCache, model: str, blocks: Sequence[Block], minimum: int) -> CacheAccount:
    digest = hashlib.sha256(model.encode())
    cumulative = 0
    breakpoints: list[tuple[int, str, str]] = []  # (prefix tokens, hash, ttl)
    for block in blocks:
        digest.update(json.dumps(block.material, sort_keys=True, separators=(",", ":")).encode())
        cumulative += block.tokens
        if block.breakpoint_ttl is not None and cumulative >= minimum:
            breakpoints.append((cumulative, digest.copy().hexdigest(), block.breakpoint_ttl))
    read = 0
    for length, key, _ in reversed(breakpoints):
        if cache.read(key):
            read = length
            break
    writes = {"5m": 0, "1h": 0}
    pending = PendingWrites()
    previous = read
    for length, key, ttl in breakpoints:
        if length <= read:
            continue
        writes[ttl] += length - previous
        previous = length
        pending.keys.append((key, TTL_SECONDS[ttl]))
    return CacheAccount(read, writes["5m"], writes["1h"], pending)
