"""Qdrant Edge adapter: the Qdrant engine in-process, one persistent shard on disk (the embedded default).

Only one process may own a shard: the embedded deployment is one worker process with a thread pool. The owner holds
an OS file lock (`flock`) on `<shard>.lock` beside the shard for as long as it lives; a second process that opens
the shard gets `ShardInUseError` at once, with how to scale out, instead of Qdrant's WAL error on every call.
Qdrant Edge's own errors leave this adapter as `BackendError`; a closed index raises `BackendError` too.
Edge has no background optimizer, so `optimize()` (called by the maintenance sweep) builds the HNSW graph
of grown segments; until then new points are searched exactly, which is correct, only slower.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import BackendError, ShardInUseError, wraps_backend_errors
from llmcache.shared.index.base import (
    INDEXED_FLOAT_FIELDS,
    INDEXED_KEYWORD_FIELDS,
    Candidate,
    Condition,
    IndexPoint,
    PointSelector,
    point_id_for,
    stored_vector,
)

# qdrant_edge raises plain `Exception`s (WAL, dimension, "shard is not initialized"); a ValueError is our caller's
_qdrant_errors = wraps_backend_errors("qdrant", (Exception,), passthrough=(ValueError,))
SCALE_OUT_HINT = (
    "the embedded engine has one owner: run one worker process with more threads (--concurrency), or set "
    "QDRANT_URL to run any number of worker processes and hosts on the Qdrant server adapter "
    "(infra/docker-compose.yml)"
)


class _ShardLocks:
    """This process's locks, one per shard path, counted: the `worker` command claims the shard before Celery starts
    and the index claims it again when it opens (and a forked pool child inherits both), so neither blocks the other;
    the lock is released when the last claim is."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[Path, tuple[int, int]] = {}  # lock file -> (descriptor, claims)

    @staticmethod
    def lock_file(shard: Path) -> Path:
        return shard.parent / f"{shard.name}.lock"

    def claim(self, shard: Path) -> None:
        path = self.lock_file(shard.resolve())
        with self._mutex:
            if path in self._held:
                fd, claims = self._held[path]
                self._held[path] = (fd, claims + 1)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise ShardInUseError(
                    f"the Qdrant Edge shard at {shard} is already owned by another process (pid {holder}; lock "
                    f"{path}): {SCALE_OUT_HINT}"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self._held[path] = (fd, 1)

    def release(self, shard: Path) -> None:
        path = self.lock_file(shard.resolve())
        with self._mutex:
            if path not in self._held:
                return
            fd, claims = self._held[path]
            if claims > 1:
                self._held[path] = (fd, claims - 1)
                return
            del self._held[path]
            os.close(fd)  # closing the last descriptor releases the flock


_LOCKS = _ShardLocks()


def claim_shard(path: Path) -> None:
    """Makes this process the shard's owner for its whole life (the `worker` command calls it before Celery starts);
    raises `ShardInUseError` when another process owns it."""
    _LOCKS.claim(path)


def _condition(condition: Condition) -> Any:
    value = condition.value
    if condition.kind == "match" and isinstance(value, str):
        return qe.FieldCondition(key=condition.key, match=qe.MatchValue(value))
    if condition.kind == "except" and isinstance(value, tuple):
        return qe.FieldCondition(key=condition.key, match=qe.MatchExcept(list(value)))
    if condition.kind == "lt" and isinstance(value, float):
        return qe.FieldCondition(key=condition.key, range=qe.RangeFloat(lt=value))
    if condition.kind == "gt" and isinstance(value, float):
        return qe.FieldCondition(key=condition.key, range=qe.RangeFloat(gt=value))
    raise ValueError(f"unsupported condition {condition}")


def _filter(selector: PointSelector | None) -> Any:
    if selector is None:
        return None
    must = [_condition(c) for c in selector.conditions()]
    if selector.entry_ids is not None:
        must.append(qe.HasIdCondition({point_id_for(i) for i in selector.entry_ids}))
    return qe.Filter(must=must) if must else None


class EdgeVectorIndex:
    def __init__(self, path: Path, dimension: int, hnsw_m: int = 16, hnsw_ef_construct: int = 100) -> None:
        self._path = path
        self._dimension = dimension
        self._hnsw = (hnsw_m, hnsw_ef_construct)
        self._shard: Any = None
        self._closed = False
        self._write_lock = threading.Lock()

    def _config(self) -> Any:
        m, ef = self._hnsw
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self._dimension, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=ef, full_scan_threshold=10_000, payload_m=m),
        )

    @_qdrant_errors
    def ensure_ready(self) -> None:
        if self._shard is not None:
            return
        if self._closed:
            raise BackendError(f"qdrant: the Edge index at {self._path} is closed", backend="qdrant", operation="open")
        _LOCKS.claim(self._path)
        try:
            self._open()
        except BaseException:
            _LOCKS.release(self._path)
            raise

    def _open(self) -> None:
        has_segments = self._path.exists() and any(self._path.iterdir())
        if has_segments:
            self._shard = qe.EdgeShard.load(str(self._path))
        else:
            self._path.mkdir(parents=True, exist_ok=True)
            self._shard = qe.EdgeShard.create(str(self._path), self._config())
        existing = set(self._shard.info().payload_schema)
        for name in INDEXED_KEYWORD_FIELDS:
            if name not in existing:
                self._shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        for name in INDEXED_FLOAT_FIELDS:
            if name not in existing:
                self._shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Float))

    @property
    def shard(self) -> Any:
        if self._shard is None:
            self.ensure_ready()
        return self._shard

    @_qdrant_errors
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if not points:
            return
        edge_points = [qe.Point(p.point_id, p.vector.tolist(), p.payload.model_dump()) for p in points]
        with self._write_lock:
            self.shard.update(qe.UpdateOperation.upsert_points(edge_points))

    def _request(self, vector: Vectors, selector: PointSelector, threshold: float, limit: int) -> Any:
        return qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector.tolist()),
            filter=_filter(selector),
            score_threshold=threshold,
            with_payload=["entry_id"],
            with_vector=True,
        )

    @staticmethod
    def _candidates(scored: Sequence[Any]) -> list[Candidate]:
        return [
            Candidate(entry_id=str(p.payload["entry_id"]), score=float(p.score), vector=stored_vector(p.vector))
            for p in scored
        ]

    @_qdrant_errors
    def search(self, vector: Vectors, selector: PointSelector, threshold: float, limit: int) -> list[Candidate]:
        return self._candidates(self.shard.query(self._request(vector, selector, threshold, limit)))

    @_qdrant_errors
    def search_batch(
        self, vectors: Vectors, selectors: Sequence[PointSelector], threshold: float, limit: int
    ) -> list[list[Candidate]]:
        if len(selectors) == 0:
            return []
        requests = [self._request(v, s, threshold, limit) for v, s in zip(vectors, selectors, strict=True)]
        return [self._candidates(r) for r in self.shard.query_batch(qe.QueryBatchRequest(requests))]

    @_qdrant_errors
    def delete_ids(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            with self._write_lock:
                self.shard.update(qe.UpdateOperation.delete_points([point_id_for(i) for i in entry_ids]))

    @_qdrant_errors
    def delete_where(self, selector: PointSelector) -> int:
        point_filter = _filter(selector)
        if point_filter is None:
            raise ValueError("delete_where needs at least one condition; refusing to delete every point")
        with self._write_lock:
            matching = int(self.shard.count(qe.CountRequest(exact=True, filter=point_filter)))
            if matching:
                self.shard.update(qe.UpdateOperation.delete_points_by_filter(point_filter))
        return matching

    @_qdrant_errors
    def count(self, selector: PointSelector | None = None) -> int:
        return int(self.shard.count(qe.CountRequest(exact=True, filter=_filter(selector))))

    @_qdrant_errors
    def optimize(self) -> None:
        with self._write_lock:
            self.shard.optimize()

    @_qdrant_errors
    def close(self) -> None:
        self._closed = True
        if self._shard is not None:
            shard, self._shard = self._shard, None
            try:
                shard.flush()
                shard.close()
            finally:
                _LOCKS.release(self._path)
