"""Maintenance: version invalidation, purges by selection, the sweeps of stale versions and expired entries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import structlog

from llmcache.shared.cache.context import CacheContext
from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.index.base import PointSelector
from llmcache.shared.models import CacheEntry, PurgeResult, PurgeSelector

log = structlog.get_logger("llmcache.cache")


class Maintenance:
    def __init__(self, context: CacheContext) -> None:
        self._context = context

    def invalidate(self, namespace: str, new_version: str) -> PurgeResult:
        """Make `new_version` current (seen by every process at once) and delete every other version's entries."""
        self._context.policy(namespace)
        if not new_version:
            raise InvalidRequestError("new_version", "must not be empty")
        self._context.versions.set(namespace, new_version)
        result = self._purge_stale_versions(namespace, new_version)
        log.info("namespace_invalidated", namespace=namespace, version=new_version, **result.model_dump())
        return result

    def sweep_stale_versions(self) -> PurgeResult:
        current = self._context.current_version
        return _sum(self._purge_stale_versions(ns, current(ns)) for ns in self._known_namespaces())

    def purge(self, selector: PurgeSelector) -> PurgeResult:
        """Delete entries and points by exactly one selection: ids | tenant (+user) | namespace (+version) |
        older_than."""
        # PurgeSelector's own validator has checked that exactly one selection is given (the one rule)
        if selector.ids is not None:
            return self._purge_ids(selector.ids)
        if selector.tenant is not None:
            tenant, user = selector.tenant, selector.user
            return self._purge_where(
                self._known_namespaces(),
                lambda e: e.tenant == tenant and (user is None or e.user == user),
                PointSelector(tenant=tenant, user=user),
            )
        if selector.namespace is not None:
            namespace, version = selector.namespace, selector.version
            return self._purge_where(
                [namespace],
                lambda e: version is None or e.version == version,
                PointSelector(namespace=namespace, version=version),
                drop_orphans=version is None,
            )
        assert selector.older_than is not None
        cutoff = selector.older_than
        return self._purge_where(
            self._known_namespaces(),
            lambda e: e.created_at < cutoff,
            PointSelector(created_before=cutoff.timestamp()),
        )

    def sweep_expired(self, now: datetime | None = None) -> PurgeResult:
        """Delete expired points (Qdrant has no TTL) and expired rows of the Redis indexes; then let the index
        engine build what it does not build in the background."""
        context = self._context
        moment = now or context.clock()
        expired: list[tuple[str, str]] = [
            (ns, entry_id) for ns in self._known_namespaces() for entry_id in context.store.expired_ids(ns, moment)
        ]
        entries = context.store.delete(expired)
        points = context.index.delete_where(PointSelector(expires_before=moment.timestamp()))
        context.index.optimize()
        log.info("expired_swept", index_rows=len(expired), entries_deleted=entries, points_deleted=points)
        return PurgeResult(entries_deleted=entries, points_deleted=points)

    def entry_count(self, namespace: str) -> int:
        return self._context.store.count(namespace)

    def describe(self) -> dict[str, Any]:
        return {"embedder": self._context.embedder.model_name, "index": type(self._context.index).__name__}

    def _purge_stale_versions(self, namespace: str, current: str) -> PurgeResult:
        return self._purge_where(
            [namespace],
            lambda e: e.version != current,
            PointSelector(namespace=namespace, versions_except=(current,)),
        )

    def _purge_ids(self, entry_ids: Sequence[str]) -> PurgeResult:
        """The entries, and the alias entries written from them (which still are: a request's own answer may have
        replaced an alias since). An alias's id purges that alias alone."""
        context = self._context
        ids = list(dict.fromkeys(entry_ids))
        points = context.index.count(PointSelector(entry_ids=tuple(ids))) if ids else 0
        aliases = self._aliases_of(ids)
        doomed = [(ns, i) for ns in self._known_namespaces() for i in ids]
        entries = context.store.delete(
            [*doomed, *((e.namespace, e.entry_id) for e in aliases if e.entry_id not in ids)]
        )
        context.index.delete_ids(ids)
        return PurgeResult(entries_deleted=entries, points_deleted=points)

    def _aliases_of(self, ids: Sequence[str]) -> list[CacheEntry]:
        listed = self._context.store.aliases_of(ids)
        candidates = [(source, alias_id) for source, members in listed.items() for alias_id in members]
        bodies = self._context.store.get_many([alias_id for _, alias_id in candidates])
        return [
            body
            for (source, _), body in zip(candidates, bodies, strict=True)
            if body is not None and body.alias_of == source
        ]

    def _purge_where(
        self,
        namespaces: Iterable[str],
        matches: Callable[[CacheEntry], bool],
        points: PointSelector,
        drop_orphans: bool = True,
    ) -> PurgeResult:
        context = self._context
        doomed: list[tuple[str, str]] = []
        for namespace in namespaces:
            for entry_id, entry in context.store.iter_entries(namespace):
                # an index row whose body already expired is dropped along the way
                if (entry is None and drop_orphans) or (entry is not None and matches(entry)):
                    doomed.append((namespace, entry_id))
        entries = context.store.delete(doomed)
        return PurgeResult(entries_deleted=entries, points_deleted=context.index.delete_where(points))

    def _known_namespaces(self) -> list[str]:
        return sorted(self._context.store.namespaces() | set(self._context.policies))


def _sum(results: Iterable[PurgeResult]) -> PurgeResult:
    entries = points = 0
    for result in results:
        entries += result.entries_deleted
        points += result.points_deleted
    return PurgeResult(entries_deleted=entries, points_deleted=points)
