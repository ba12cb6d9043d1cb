"""Qdrant server adapter through `qdrant-client` (set QDRANT_URL): the cluster deployment.

Any number of worker processes and hosts share one collection; payload indexes cover every filter field.
`QdrantClient(":memory:")` speaks the same API (brute force, for tests only). The client's errors (HTTP, gRPC,
connection, a closed local client) leave this adapter as `BackendError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]
import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException

from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import wraps_backend_errors
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

_qdrant_errors = wraps_backend_errors(
    "qdrant", (ApiException, httpx.HTTPError, grpc.RpcError, OSError, RuntimeError), passthrough=(ValueError,)
)


def _condition(condition: Condition) -> models.FieldCondition:
    value = condition.value
    if condition.kind == "match" and isinstance(value, str):
        return models.FieldCondition(key=condition.key, match=models.MatchValue(value=value))
    if condition.kind == "except" and isinstance(value, tuple):
        return models.FieldCondition(key=condition.key, match=models.MatchExcept(**{"except": list(value)}))
    if condition.kind == "lt" and isinstance(value, float):
        return models.FieldCondition(key=condition.key, range=models.Range(lt=value))
    if condition.kind == "gt" and isinstance(value, float):
        return models.FieldCondition(key=condition.key, range=models.Range(gt=value))
    raise ValueError(f"unsupported condition {condition}")


def _filter(selector: PointSelector | None) -> models.Filter | None:
    if selector is None:
        return None
    must: list[Any] = [_condition(c) for c in selector.conditions()]
    if selector.entry_ids is not None:
        must.append(models.HasIdCondition(has_id=[point_id_for(i) for i in selector.entry_ids]))
    return models.Filter(must=must) if must else None


class ServerVectorIndex:
    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dimension: int,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
    ) -> None:
        self._client = client
        self._collection = collection
        self._dimension = dimension
        self._hnsw = models.HnswConfigDiff(m=hnsw_m, ef_construct=hnsw_ef_construct, payload_m=hnsw_m)

    @_qdrant_errors
    def ensure_ready(self) -> None:
        if not self._client.collection_exists(self._collection):
            self._client.create_collection(
                self._collection,
                vectors_config=models.VectorParams(size=self._dimension, distance=models.Distance.COSINE),
                hnsw_config=self._hnsw,
            )
        schema = self._client.get_collection(self._collection).payload_schema or {}
        for name in INDEXED_KEYWORD_FIELDS:
            if name not in schema:
                self._client.create_payload_index(self._collection, name, models.PayloadSchemaType.KEYWORD)
        for name in INDEXED_FLOAT_FIELDS:
            if name not in schema:
                self._client.create_payload_index(self._collection, name, models.PayloadSchemaType.FLOAT)

    @_qdrant_errors
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if not points:
            return
        self._client.upsert(
            self._collection,
            points=[
                models.PointStruct(id=p.point_id, vector=p.vector.tolist(), payload=p.payload.model_dump())
                for p in points
            ],
            wait=True,
        )

    @staticmethod
    def _candidates(scored: Sequence[models.ScoredPoint]) -> list[Candidate]:
        return [
            Candidate(entry_id=str((p.payload or {})["entry_id"]), score=float(p.score), vector=stored_vector(p.vector))
            for p in scored
        ]

    @_qdrant_errors
    def search(self, vector: Vectors, selector: PointSelector, threshold: float, limit: int) -> list[Candidate]:
        response = self._client.query_points(
            self._collection,
            query=vector.tolist(),
            query_filter=_filter(selector),
            score_threshold=threshold,
            limit=limit,
            with_payload=["entry_id"],
            with_vectors=True,
        )
        return self._candidates(response.points)

    @_qdrant_errors
    def search_batch(
        self, vectors: Vectors, selectors: Sequence[PointSelector], threshold: float, limit: int
    ) -> list[list[Candidate]]:
        if len(selectors) == 0:
            return []
        requests = [
            models.QueryRequest(
                query=v.tolist(),
                filter=_filter(s),
                score_threshold=threshold,
                limit=limit,
                with_payload=["entry_id"],
                with_vector=True,
            )
            for v, s in zip(vectors, selectors, strict=True)
        ]
        responses = self._client.query_batch_points(self._collection, requests=requests)
        return [self._candidates(r.points) for r in responses]

    @_qdrant_errors
    def delete_ids(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self._client.delete(
                self._collection,
                points_selector=models.PointIdsList(points=[point_id_for(i) for i in entry_ids]),
                wait=True,
            )

    @_qdrant_errors
    def delete_where(self, selector: PointSelector) -> int:
        point_filter = _filter(selector)
        if point_filter is None:
            raise ValueError("delete_where needs at least one condition; refusing to delete every point")
        matching = self._client.count(self._collection, count_filter=point_filter, exact=True).count
        if matching:
            self._client.delete(self._collection, points_selector=models.FilterSelector(filter=point_filter), wait=True)
        return int(matching)

    @_qdrant_errors
    def count(self, selector: PointSelector | None = None) -> int:
        return int(self._client.count(self._collection, count_filter=_filter(selector), exact=True).count)

    def optimize(self) -> None:
        """The server optimises in the background."""

    @_qdrant_errors
    def close(self) -> None:
        self._client.close()
