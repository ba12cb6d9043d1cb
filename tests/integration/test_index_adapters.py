"""One contract, both engines: Qdrant Edge (shard on disk) and qdrant-client against ":memory:"."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from llmcache.shared.index.base import IndexPoint, PointPayload, PointSelector, VectorIndex
from llmcache.shared.index.edge import EdgeVectorIndex
from llmcache.shared.index.server import ServerVectorIndex

DIM = 8


def entry_id(n: int) -> str:
    return hashlib.sha256(f"entry-{n}".encode()).hexdigest()


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def point(n: int, vector: np.ndarray, **payload: object) -> IndexPoint:
    fields: dict[str, object] = {
        "entry_id": entry_id(n),
        "context_fp": "ctx-a",
        "namespace": "faq",
        "version": "1",
        "tenant": "acme",
        "created_at": 1000.0 + n,
        "expires_at": 5000.0 + n,
    }
    fields.update(payload)
    return IndexPoint(vector=vector, payload=PointPayload.model_validate(fields))


@pytest.fixture
def index(engine: str, tmp_path: Path) -> Iterator[VectorIndex]:
    built: VectorIndex
    if engine == "edge":
        built = EdgeVectorIndex(tmp_path / "shard", DIM)
    else:
        built = ServerVectorIndex(QdrantClient(":memory:"), "test", DIM)
    built.ensure_ready()
    built.ensure_ready()  # idempotent
    yield built
    built.close()


def test_filtered_search_honours_every_condition_and_threshold(index: VectorIndex) -> None:
    base = unit(1)
    near = base + 0.05 * unit(2)
    near /= np.linalg.norm(near)
    index.upsert(
        [
            point(1, base),
            point(2, base, context_fp="ctx-b"),
            point(3, base, tenant="globex"),
            point(4, base, version="2"),
            point(5, base, user="alice"),
            point(6, base, expires_at=10.0),
            point(7, near),
            point(8, unit(99)),
        ]
    )
    selector = PointSelector(context_fp="ctx-a", version="1", tenant="acme", user="", expires_after=100.0)
    found = index.search(base, selector, threshold=0.9, limit=5)
    assert [c.entry_id for c in found] == [entry_id(1), entry_id(7)]
    assert found[0].score == pytest.approx(1.0, abs=1e-5)
    assert found[0].score >= found[1].score >= 0.9
    # the stored vectors come back with the hits: the guard's learned verifier reads them
    assert found[0].vector is not None and found[1].vector is not None
    np.testing.assert_allclose(found[1].vector, near, atol=1e-6)
    assert index.search(base, PointSelector(context_fp="nope"), 0.0, 5) == []
    batch = index.search_batch(np.stack([base, base]), [selector, PointSelector(tenant="globex")], 0.9, 5)
    assert [[c.entry_id for c in r] for r in batch] == [[entry_id(1), entry_id(7)], [entry_id(3)]]
    assert batch[1][0].vector is not None
    np.testing.assert_allclose(batch[1][0].vector, base, atol=1e-6)


def test_upsert_is_idempotent_and_replaces_the_payload(index: VectorIndex) -> None:
    index.upsert([point(1, unit(1))])
    index.upsert([point(1, unit(1), version="2")])
    assert index.count() == 1
    assert index.count(PointSelector(version="2")) == 1


def test_deletes_by_ids_and_by_each_filter(index: VectorIndex) -> None:
    index.upsert(
        [
            point(1, unit(1)),
            point(2, unit(2), namespace="news"),
            point(3, unit(3), version="0"),
            point(4, unit(4), tenant="globex", user="bob"),
            point(5, unit(5), expires_at=100.0),
            point(6, unit(6), created_at=1.0),
        ]
    )
    assert index.count() == 6
    index.delete_ids([entry_id(1)])
    assert index.count(PointSelector(entry_ids=(entry_id(1),))) == 0
    assert index.delete_where(PointSelector(expires_before=200.0)) == 1
    assert index.delete_where(PointSelector(namespace="faq", versions_except=("1",))) == 1
    assert index.delete_where(PointSelector(tenant="globex", user="bob")) == 1
    assert index.delete_where(PointSelector(created_before=500.0)) == 1
    assert index.delete_where(PointSelector(namespace="news")) == 1
    assert index.count() == 0
    with pytest.raises(ValueError, match="at least one condition"):
        index.delete_where(PointSelector())


def test_edge_shard_persists_across_reopen(tmp_path: Path) -> None:
    first = EdgeVectorIndex(tmp_path / "shard", DIM)
    first.ensure_ready()
    first.upsert([point(1, unit(1)), point(2, unit(2))])
    first.close()
    again = EdgeVectorIndex(tmp_path / "shard", DIM)
    again.ensure_ready()
    assert again.count() == 2
    assert again.search(unit(1), PointSelector(context_fp="ctx-a"), 0.99, 1)[0].entry_id == entry_id(1)
    again.close()
