"""`llmcache migrate-index`: an embedded cache's Qdrant Edge shard copied into a Qdrant collection (qdrant-client's
local mode on disk, the same client and API as a server), every point with its vector and payload, searchable
there with the same nearest neighbours; a re-run copies again without duplicating."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

from llmcache.shared.index.base import IndexPoint, PointPayload, PointSelector
from llmcache.shared.index.edge import EdgeVectorIndex
from llmcache.shared.index.migrate import migrate_index
from llmcache.shared.index.server import ServerVectorIndex

ROOT = Path(__file__).resolve().parents[2]
DIMENSION = 384


def _points(count: int, seed: int = 7) -> list[IndexPoint]:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        IndexPoint(
            vector=vector,
            payload=PointPayload(
                entry_id=uuid.uuid5(uuid.NAMESPACE_URL, f"entry-{i}").hex * 2,
                context_fp=f"ctx-{i % 3}",
                namespace="faq",
                version="1",
                tenant=f"t{i % 2}",
                created_at=1_800_000_000.0 + i,
                expires_at=1_900_000_000.0,
            ),
        )
        for i, vector in enumerate(vectors)
    ]


def _edge_shard(path: Path, points: list[IndexPoint]) -> None:
    index = EdgeVectorIndex(path, DIMENSION)
    index.ensure_ready()
    index.upsert(points)
    index.close()


def test_every_point_is_copied_and_found_again(tmp_path: Path) -> None:
    points = _points(700)  # more than two batches
    _edge_shard(tmp_path / "edge-shard", points)
    source = EdgeVectorIndex(tmp_path / "edge-shard", DIMENSION)
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    target = ServerVectorIndex(client, "llmcache", DIMENSION)
    try:
        report = migrate_index(source, lambda dimension: ServerVectorIndex(client, "llmcache", dimension), batch=300)
        assert (report.source_points, report.copied, report.target_points) == (700, 700, 700)
        again = migrate_index(source, lambda dimension: ServerVectorIndex(client, "llmcache", dimension), batch=300)
        assert again.target_points == 700  # by point id: copied again, not twice
        selector = PointSelector(context_fp="ctx-1", tenant="t1")
        for probe in points[:20]:
            expected = source.search(probe.vector, selector, 0.0, 5)
            found = target.search(probe.vector, selector, 0.0, 5)
            assert [c.entry_id for c in found] == [c.entry_id for c in expected]
        stored = client.retrieve("llmcache", [points[3].point_id], with_payload=True, with_vectors=True)[0]
        assert PointPayload.model_validate(stored.payload) == points[3].payload
        assert np.allclose(np.asarray(stored.vector), points[3].vector, atol=1e-6)
    finally:
        source.close()
        client.close()


def test_the_command_copies_the_shard_of_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _edge_shard(data_dir / "edge-shard", _points(50))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_") and k != "QDRANT_URL"}
    env.update({"LLMCACHE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)})
    target = tmp_path / "qdrant"
    done = subprocess.run(
        [sys.executable, "-m", "llmcache.workers.cli", "migrate-index", "--to", str(target), "--collection", "moved"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "50 of 50 points copied" in done.stdout
    client = QdrantClient(path=str(target))
    try:
        assert client.count("moved", exact=True).count == 50
    finally:
        client.close()
    missing = subprocess.run(
        [sys.executable, "-m", "llmcache.workers.cli", "migrate-index", "--to", str(target)],
        env={**env, "LLMCACHE_DATA_DIR": str(tmp_path / "nothing")}, cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "no embedded index" in missing.stderr
