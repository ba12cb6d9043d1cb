"""The cache facade: lookup, store, invalidate, purge and sweep over Redis bodies and a vector index.

A semantic hit is only possible between requests with the same context fingerprint, namespace, prompt version
and scope; a candidate whose Redis body is gone is a miss and its point is removed on the spot.

`LLMCache` composes three parts over one shared `CacheContext` (the collaborators, and each request prepared into
its policy, keys and text): `Lookups` (lookups.py), `Writes` (writes.py) and `Maintenance` (maintenance.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from llmcache.shared.cache.context import CacheContext, Prepared
from llmcache.shared.cache.lookups import Lookups, Neighbours
from llmcache.shared.cache.maintenance import Maintenance
from llmcache.shared.cache.writes import StoreItem, Writes
from llmcache.shared.embedding.base import Embedder, Vectors
from llmcache.shared.entry_store_protocols import EntryStoreProtocol, VersionRegistryProtocol
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.index.base import VectorIndex
from llmcache.shared.models import (
    CacheEntry,
    CacheRequest,
    Completion,
    LookupResult,
    Miss,
    PurgeResult,
    PurgeSelector,
    StoreOutcome,
    utc_now,
)
from llmcache.shared.policy import NamespacePolicy
from llmcache.shared.request_keys import embedder_identity

__all__ = ["CacheContext", "LLMCache", "Neighbours", "Prepared", "StoreItem"]


class LLMCache:
    def __init__(
        self,
        policies: Mapping[str, NamespacePolicy],
        *,
        store: EntryStoreProtocol,
        versions: VersionRegistryProtocol,
        index: VectorIndex,
        embedder: Embedder,
        guard: FalseHitGuard | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_alias_failure: Callable[[Sequence[CacheEntry]], None] | None = None,
    ) -> None:
        """`on_alias_failure`: told of the alias entries whose write failed (their lookups were served anyway)."""
        self._context = CacheContext(
            policies=policies,
            store=store,
            versions=versions,
            index=index,
            embedder=embedder,
            embedder_id=embedder_identity(embedder),
            guard=guard if guard is not None else FalseHitGuard(verifier=LearnedVerifier()),
            clock=clock,
            on_alias_failure=on_alias_failure,
        )
        self._lookups = Lookups(self._context)
        self._writes = Writes(self._context)
        self._maintenance = Maintenance(self._context)

    # -- policy ----------------------------------------------------------------------------------------------

    def policy(self, namespace: str) -> NamespacePolicy:
        return self._context.policy(namespace)

    def current_version(self, namespace: str) -> str:
        return self._context.current_version(namespace)

    # -- lookups ---------------------------------------------------------------------------------------------

    def miss_for(self, request: CacheRequest) -> Miss:
        """The keys of a request without looking anything up (for jobs that skip the cache)."""
        return self._lookups.miss_for(request)

    def lookup(
        self,
        request: CacheRequest,
        *,
        threshold: float | None = None,
        embedding: Vectors | None = None,
        alias: bool = True,
    ) -> LookupResult:
        """`embedding` (of the last user message, from an earlier Miss) saves embedding it again. A semantic hit
        writes an alias entry under the request's own key (an exact hit next time; see `lookups.alias_entry`)
        unless `alias=False` or the namespace's `alias_semantic_hits` is off."""
        return self._lookups.lookup(request, threshold=threshold, embedding=embedding, alias=alias)

    def lookup_many(
        self,
        requests: Sequence[CacheRequest],
        *,
        threshold: float | None = None,
        embeddings: Sequence[Vectors | None] | None = None,
        stages: dict[str, float] | None = None,
        alias: bool = True,
    ) -> list[LookupResult]:
        """`lookup` for each request, batched (see `Lookups.lookup_many`); `stages`, when given, adds up the
        seconds spent in each stage: exact, embed, search, guard, alias."""
        return self._lookups.lookup_many(
            requests, threshold=threshold, embeddings=embeddings, stages=stages, alias=alias
        )

    def candidates_many(self, requests: Sequence[CacheRequest], floor: float, limit: int) -> list[Neighbours]:
        """Live same-context neighbours above `floor`, best first, before the guard: for evaluation and tuning."""
        return self._lookups.candidates_many(requests, floor, limit)

    # -- stores ----------------------------------------------------------------------------------------------

    def store(
        self,
        request: CacheRequest,
        completion: Completion,
        *,
        ttl_seconds: int | None = None,
        miss: Miss | None = None,
    ) -> StoreOutcome:
        """Store an answer. Pass the lookup's `miss` to reuse its keys and embedding (and its prompt version:
        an answer produced under a version bumped meanwhile is stored under the old one and swept)."""
        return self._writes.store(request, completion, ttl_seconds=ttl_seconds, miss=miss)

    def store_many(self, items: Sequence[StoreItem], *, ttl_seconds: int | None = None) -> list[StoreOutcome]:
        """`store` for many answers: one Redis round trip, one batched embedding, one index upsert."""
        return self._writes.store_many(items, ttl_seconds=ttl_seconds)

    # -- invalidation, purge, sweeps -------------------------------------------------------------------------

    def invalidate(self, namespace: str, new_version: str) -> PurgeResult:
        """Make `new_version` current (seen by every process at once) and delete every other version's entries."""
        return self._maintenance.invalidate(namespace, new_version)

    def sweep_stale_versions(self) -> PurgeResult:
        return self._maintenance.sweep_stale_versions()

    def purge(self, selector: PurgeSelector) -> PurgeResult:
        """Delete entries and points by exactly one selection: ids | tenant (+user) | namespace (+version) |
        older_than."""
        return self._maintenance.purge(selector)

    def sweep_expired(self, now: datetime | None = None) -> PurgeResult:
        """Delete expired points (Qdrant has no TTL) and expired rows of the Redis indexes; then let the index
        engine build what it does not build in the background."""
        return self._maintenance.sweep_expired(now)

    def entry_count(self, namespace: str) -> int:
        return self._maintenance.entry_count(namespace)

    def describe(self) -> dict[str, Any]:
        return self._maintenance.describe()
