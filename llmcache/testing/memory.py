"""In-memory stand-ins for unit tests, in the spirit of dramatiq's StubBroker: an entry store and a version
registry that keep the Redis store's contract (`llmcache.shared.entry_store_protocols`) in a dict, so that the cache's
decisions (exact hit, version bump, TTL expiry, purge) are tested without Redis. Integration tests keep the real Redis.

Bodies expire like Redis keys do, but on the injected clock: a body whose TTL has run out reads as absent while its
row stays in the namespace index until a sweep or purge removes it, as `ns-entries:<ns>` does on Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from llmcache.shared.models import CacheEntry, utc_now


@dataclass
class MutableClock:
    """A clock a test moves by hand: pass `clock` to the cache and the store, then `advance(seconds=...)`."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class MemoryEntryStore:
    """`EntryStoreProtocol` in memory: bodies with an expiry on `clock`, and per-namespace id -> expires_at rows."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._bodies: dict[str, tuple[CacheEntry, datetime]] = {}  # entry id -> (body, when its key expires)
        self._index: dict[str, dict[str, float]] = {}  # namespace -> entry id -> expires_at (epoch seconds)
        self._namespaces: set[str] = set()
        self._aliases: dict[str, set[str]] = {}  # source entry id -> ids of the aliases written from it
        self._lock = threading.Lock()

    def _live(self, entry_id: str) -> CacheEntry | None:
        held = self._bodies.get(entry_id)
        if held is None:
            return None
        entry, key_expires = held
        if self._clock() >= key_expires:
            del self._bodies[entry_id]  # what Redis' EXPIRE does on access
            return None
        return entry

    def get(self, entry_id: str) -> CacheEntry | None:
        with self._lock:
            return self._live(entry_id)

    def get_many(self, entry_ids: Sequence[str]) -> list[CacheEntry | None]:
        with self._lock:
            return [self._live(entry_id) for entry_id in entry_ids]

    def put(self, entry: CacheEntry, ttl_seconds: int) -> None:
        self.put_many([(entry, ttl_seconds)])

    def put_many(self, entries: Sequence[tuple[CacheEntry, int]]) -> None:
        if not entries:
            return
        with self._lock:
            now = self._clock()
            for entry, ttl_seconds in entries:
                self._bodies[entry.entry_id] = (entry, now + timedelta(seconds=ttl_seconds))
                self._index.setdefault(entry.namespace, {})[entry.entry_id] = entry.expires_at.timestamp()
                self._namespaces.add(entry.namespace)

    def put_aliases(self, entries: Sequence[tuple[CacheEntry, int]]) -> int:
        written = 0
        with self._lock:
            now = self._clock()
            for entry, ttl_seconds in entries:
                assert entry.alias is not None, "put_aliases writes alias entries only"
                if self._live(entry.entry_id) is not None:
                    continue
                self._bodies[entry.entry_id] = (entry, now + timedelta(seconds=ttl_seconds))
                self._index.setdefault(entry.namespace, {})[entry.entry_id] = entry.expires_at.timestamp()
                self._namespaces.add(entry.namespace)
                self._aliases.setdefault(entry.alias.source_id, set()).add(entry.entry_id)
                written += 1
        return written

    def aliases_of(self, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        with self._lock:
            return {i: sorted(self._aliases[i]) for i in entry_ids if self._aliases.get(i)}

    def delete(self, entries: Iterable[tuple[str, str]]) -> int:
        count = 0
        with self._lock:
            for namespace, entry_id in entries:
                if self._live(entry_id) is not None:
                    count += 1
                self._bodies.pop(entry_id, None)
                self._index.get(namespace, {}).pop(entry_id, None)
                self._aliases.pop(entry_id, None)
        return count

    def namespaces(self) -> set[str]:
        with self._lock:
            return set(self._namespaces)

    def expired_ids(self, namespace: str, now: datetime) -> list[str]:
        cutoff = now.timestamp()
        with self._lock:
            rows = self._index.get(namespace, {})
            return [
                entry_id for entry_id, expires_at in sorted(rows.items(), key=lambda r: r[1]) if expires_at <= cutoff
            ]

    def iter_entries(self, namespace: str) -> Iterator[tuple[str, CacheEntry | None]]:
        with self._lock:
            ids = list(self._index.get(namespace, {}))
            rows = [(entry_id, self._live(entry_id)) for entry_id in ids]
        yield from rows

    def count(self, namespace: str) -> int:
        with self._lock:
            return len(self._index.get(namespace, {}))


class MemoryVersionRegistry:
    """`VersionRegistryProtocol` in memory."""

    def __init__(self) -> None:
        self._versions: dict[str, str] = {}

    def current(self, namespace: str, default: str) -> str:
        return self._versions.get(namespace, default)

    def set(self, namespace: str, version: str) -> None:
        self._versions[namespace] = version
