"""Copy an embedded cache's vector index (the Qdrant Edge shard) into a Qdrant server collection: every point with
its vector and payload, in batches, by point id (a re-run copies again, never twice). Redis needs no migration:
the workers of the cluster read the same Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import qdrant_edge as qe
from pydantic import BaseModel

from llmcache.shared.index.base import IndexPoint, PointPayload, VectorIndex, stored_vector
from llmcache.shared.index.edge import EdgeVectorIndex


class MigrationReport(BaseModel):
    source_points: int
    copied: int
    target_points: int


def edge_points(source: EdgeVectorIndex, batch: int = 256) -> Iterator[list[IndexPoint]]:
    """Every point of an Edge shard, `batch` at a time, with vectors and payloads."""
    offset = None
    while True:
        request = qe.ScrollRequest(offset=offset, limit=batch, with_payload=True, with_vector=True)
        records, offset = source.shard.scroll(request)
        points = []
        for record in records:
            vector = stored_vector(record.vector)
            if vector is None:
                raise ValueError(f"point {record.id} of the Edge shard has no vector")
            points.append(IndexPoint(vector=vector, payload=PointPayload.model_validate(record.payload)))
        if points:
            yield points
        if offset is None or not records:
            return


def migrate_index(
    source: EdgeVectorIndex,
    make_target: Callable[[int], VectorIndex],
    *,
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """`make_target(dimension)` opens the target (created when missing) once the vectors' dimension is known."""
    total = source.count()
    target: VectorIndex | None = None
    copied = 0
    for points in edge_points(source, batch):
        if target is None:
            target = make_target(len(points[0].vector))
            target.ensure_ready()
        target.upsert(points)
        copied += len(points)
        if progress is not None:
            progress(copied)
    return MigrationReport(source_points=total, copied=copied, target_points=target.count() if target else 0)
