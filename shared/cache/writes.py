"""Stores: the cacheability verdict, the Redis body, then the vector point (a semantic namespace's only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from llmcache.shared.cache.context import CacheContext, Prepared
from llmcache.shared.cacheability import judge
from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.index.base import NO_USER, IndexPoint, PointPayload
from llmcache.shared.models import CacheEntry, CacheRequest, Completion, Miss, StoreOutcome


@dataclass(frozen=True)
class StoreItem:
    request: CacheRequest
    completion: Completion
    miss: Miss | None = None


class Writes:
    def __init__(self, context: CacheContext) -> None:
        self._context = context

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
        return self.store_many([StoreItem(request, completion, miss)], ttl_seconds=ttl_seconds)[0]

    def store_many(self, items: Sequence[StoreItem], *, ttl_seconds: int | None = None) -> list[StoreOutcome]:
        """`store` for many answers: one Redis round trip, one batched embedding, one index upsert."""
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise InvalidRequestError("ttl_seconds", f"must be positive, got {ttl_seconds}")
        context = self._context
        now = context.clock()
        outcomes: list[StoreOutcome] = []
        bodies: list[tuple[CacheEntry, int]] = []
        to_index: list[tuple[CacheEntry, str, Vectors | None]] = []
        known = [item.miss.version if item.miss is not None else None for item in items]
        for item, prepared in zip(items, context.prepare_many([i.request for i in items], known), strict=True):
            miss = item.miss
            verdict = judge(item.completion, prepared.policy)
            if not verdict.allowed:
                outcomes.append(StoreOutcome(stored=False, reason=verdict.reason))
                continue
            ttl = ttl_seconds if ttl_seconds is not None else prepared.policy.ttl_seconds
            entry = build_entry(item.request, item.completion, prepared, now, ttl)
            bodies.append((entry, ttl))
            if prepared.semantic_allowed and prepared.text is not None:
                reusable = miss is not None and miss.request_key == entry.request_key
                to_index.append((entry, prepared.text, miss.embedding if reusable and miss is not None else None))
            outcomes.append(StoreOutcome(stored=True, reason=verdict.reason, entry_id=entry.entry_id, ttl_seconds=ttl))
        # bodies before points: a point without a body would be taken for stale and removed by a concurrent lookup
        context.store.put_many(bodies)
        if to_index:
            missing = [i for i, (_, _, vector) in enumerate(to_index) if vector is None]
            computed = context.embedder.embed_batch([to_index[i][1] for i in missing]) if missing else None
            vectors: list[Vectors] = [v if v is not None else np.empty(0, np.float32) for _, _, v in to_index]
            for row, i in enumerate(missing):
                assert computed is not None
                vectors[i] = computed[row]
            context.index.upsert(
                [
                    IndexPoint(vector=v, payload=point_payload(e, context.embedder_id))
                    for (e, _, _), v in zip(to_index, vectors, strict=True)
                ]
            )
        return outcomes


def build_entry(
    request: CacheRequest, completion: Completion, prepared: Prepared, now: datetime, ttl: int
) -> CacheEntry:
    keys = prepared.keys
    return CacheEntry(
        entry_id=keys.request_key,
        request_key=keys.request_key,
        context_fp=keys.context_fp or "",
        namespace=request.namespace,
        version=keys.version,
        tenant=keys.tenant,
        user=keys.user,
        prompt_text=prepared.text,
        completion=completion,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )


def point_payload(entry: CacheEntry, embedder_id: str) -> PointPayload:
    return PointPayload(
        entry_id=entry.entry_id,
        context_fp=entry.context_fp,
        embedder=embedder_id,
        namespace=entry.namespace,
        version=entry.version,
        tenant=entry.tenant,
        user=entry.user or NO_USER,
        created_at=entry.created_at.timestamp(),
        expires_at=entry.expires_at.timestamp(),
    )
