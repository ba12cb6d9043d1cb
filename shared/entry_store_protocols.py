"""The small contracts the cache holds its answer bodies and prompt versions behind.

`llmcache.shared.entry_store` implements them on Redis (what every process shares); `llmcache.testing.memory` implements
them in memory, for unit tests of the cache's decisions without Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from llmcache.shared.models import CacheEntry


class EntryStoreProtocol(Protocol):
    """Answer bodies by entry id, each with a TTL, plus a per-namespace index of ids with their expiry."""

    def get(self, entry_id: str) -> CacheEntry | None: ...

    def get_many(self, entry_ids: Sequence[str]) -> list[CacheEntry | None]: ...

    def put(self, entry: CacheEntry, ttl_seconds: int) -> None: ...

    def put_many(self, entries: Sequence[tuple[CacheEntry, int]]) -> None: ...

    def put_aliases(self, entries: Sequence[tuple[CacheEntry, int]]) -> int:
        """Alias entries (`entry.alias` set), each written only where its key holds no body; how many were."""
        ...

    def aliases_of(self, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the alias entries written from each of these entries (some may be gone or replaced since)."""
        ...

    def delete(self, entries: Iterable[tuple[str, str]]) -> int:
        """Delete (namespace, entry_id) pairs, with each entry's list of aliases; returns how many bodies existed."""
        ...

    def namespaces(self) -> set[str]: ...

    def expired_ids(self, namespace: str, now: datetime) -> list[str]: ...

    def iter_entries(self, namespace: str) -> Iterator[tuple[str, CacheEntry | None]]:
        """Every indexed id of a namespace with its body (None when the body already expired)."""
        ...

    def count(self, namespace: str) -> int: ...


class VersionRegistryProtocol(Protocol):
    """The current prompt version of each namespace."""

    def current(self, namespace: str, default: str) -> str: ...

    def set(self, namespace: str, version: str) -> None: ...
