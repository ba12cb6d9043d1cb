"""The cache's decisions on the in-memory entry store and version registry (llmcache/testing/memory.py), with a real
Qdrant Edge shard in tmp_path, the real MiniLM embedder and an injected clock: no Redis. A contract test checks
that the memory store answers as the Redis store does, operation by operation, on the real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from llmcache.shared.cache import LLMCache
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.entry_store import EntryStore, VersionRegistry
from llmcache.shared.entry_store_protocols import EntryStoreProtocol, VersionRegistryProtocol
from llmcache.shared.index.base import PointSelector
from llmcache.shared.index.edge import EdgeVectorIndex
from llmcache.shared.models import CacheEntry, CacheRequest, Completion, ExactHit, Miss, PurgeSelector, SemanticHit
from llmcache.shared.policy import seed_policies
from llmcache.shared.redis_keys import Keyspace
from llmcache.testing.memory import MemoryEntryStore, MemoryVersionRegistry, MutableClock

QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I change it?"
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def request(text: str = QUESTION, tenant: str = "acme", **changes: Any) -> CacheRequest:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "system": "You are the support assistant of Acme.",
        "messages": [{"role": "user", "content": text}],
        "params": {"temperature": 0},
        "namespace": "faq",
        "scope": {"tenant": tenant},
    }
    fields.update(changes)
    return CacheRequest.model_validate(fields)


def answer(text: str = "Open Settings > Security > Reset password.") -> Completion:
    return Completion.model_validate(
        {"provider": "openai", "model": "gpt-4o-mini", "text": text, "finish_reason": "stop"}
    )


class Harness:
    def __init__(self, tmp_path: Path, embedder: Embedder) -> None:
        self.clock = MutableClock(START)
        self.store = MemoryEntryStore(clock=self.clock)
        self.versions = MemoryVersionRegistry()
        self.index = EdgeVectorIndex(tmp_path / "edge-shard", embedder.dimension)
        self.index.ensure_ready()
        self.cache = LLMCache(
            seed_policies(),
            store=self.store,
            versions=self.versions,
            index=self.index,
            embedder=embedder,
            clock=self.clock,
        )

    def store_answer(self, req: CacheRequest, **kw: Any) -> str:
        miss = self.cache.lookup(req)
        assert isinstance(miss, Miss), miss
        outcome = self.cache.store(req, answer(), miss=miss, **kw)
        assert outcome.stored and outcome.entry_id is not None, outcome.reason
        return outcome.entry_id

    def points(self, **selector: Any) -> int:
        return self.index.count(PointSelector(**selector))


@pytest.fixture
def harness(tmp_path: Path, embedder: Embedder) -> Iterator[Harness]:
    built = Harness(tmp_path, embedder)
    yield built
    built.index.close()


def test_exact_hit_and_a_changed_parameter_misses(harness: Harness) -> None:
    entry_id = harness.store_answer(request())
    hit = harness.cache.lookup(request())
    assert isinstance(hit, ExactHit) and hit.entry.entry_id == entry_id
    assert hit.entry.completion.text == answer().text
    changed = harness.cache.lookup(request(params={"temperature": 0.7}))
    assert isinstance(changed, Miss)
    semantic = harness.cache.lookup(request(PARAPHRASE))
    assert isinstance(semantic, SemanticHit) and semantic.entry.entry_id == entry_id


def test_version_bump_invalidates_and_the_new_version_is_served(harness: Harness) -> None:
    harness.store_answer(request())
    result = harness.cache.invalidate("faq", "2")
    assert (result.entries_deleted, result.points_deleted) == (1, 1)
    assert harness.versions.current("faq", "1") == "2"
    assert isinstance(harness.cache.lookup(request()), Miss)
    assert isinstance(harness.cache.lookup(request(PARAPHRASE)), Miss)
    entry_id = harness.store_answer(request())
    hit = harness.cache.lookup(request())
    assert isinstance(hit, ExactHit) and hit.entry.entry_id == entry_id and hit.entry.version == "2"


def test_answer_from_before_a_bump_is_stored_under_the_old_version_and_swept(harness: Harness) -> None:
    miss = harness.cache.lookup(request())
    assert isinstance(miss, Miss)
    harness.cache.invalidate("faq", "2")
    assert harness.cache.store(request(), answer(), miss=miss).stored
    assert isinstance(harness.cache.lookup(request()), Miss)
    swept = harness.cache.sweep_stale_versions()
    assert (swept.entries_deleted, swept.points_deleted) == (1, 1)


def test_ttl_expiry_on_the_injected_clock_then_sweep(harness: Harness) -> None:
    harness.store_answer(request(), ttl_seconds=60)
    harness.clock.advance(seconds=59)
    assert isinstance(harness.cache.lookup(request()), ExactHit)
    harness.clock.advance(seconds=1)
    assert isinstance(harness.cache.lookup(request()), Miss)  # expires_at is inclusive, as CacheEntry.is_expired says
    assert isinstance(harness.cache.lookup(request(PARAPHRASE)), Miss)
    assert harness.points(namespace="faq") == 1  # the vector index has no TTL: the sweep removes the point
    assert harness.cache.entry_count("faq") == 1  # and the namespace row
    # the point filter is strict (expires_at < now) where the body's expiry is inclusive: sweep a second later
    swept = harness.cache.sweep_expired(harness.clock.advance(seconds=1))
    assert (swept.entries_deleted, swept.points_deleted) == (0, 1)  # the body had already expired on its own
    assert (harness.points(namespace="faq"), harness.cache.entry_count("faq")) == (0, 0)


def test_namespace_ttl_applies_when_none_is_given(harness: Harness) -> None:
    harness.store_answer(request())
    ttl = seed_policies()["faq"].ttl_seconds
    harness.clock.advance(seconds=ttl - 1)
    assert isinstance(harness.cache.lookup(request()), ExactHit)
    harness.clock.advance(seconds=1)
    assert isinstance(harness.cache.lookup(request()), Miss)


def test_purge_by_tenant_keeps_the_other_tenant(harness: Harness) -> None:
    harness.store_answer(request(tenant="acme"))
    kept = harness.store_answer(request(tenant="globex"))
    result = harness.cache.purge(PurgeSelector(tenant="acme"))
    assert (result.entries_deleted, result.points_deleted) == (1, 1)
    assert isinstance(harness.cache.lookup(request(tenant="acme")), Miss)
    assert isinstance(harness.cache.lookup(request(PARAPHRASE, tenant="acme")), Miss)
    hit = harness.cache.lookup(request(tenant="globex"))
    assert isinstance(hit, ExactHit) and hit.entry.entry_id == kept
    assert harness.points(tenant="globex") == 1


def test_a_vanished_body_is_a_miss_and_repairs_the_index(harness: Harness) -> None:
    entry_id = harness.store_answer(request())
    assert harness.store.delete([("faq", entry_id)]) == 1  # e.g. evicted
    assert isinstance(harness.cache.lookup(request(PARAPHRASE)), Miss)
    assert harness.points(namespace="faq") == 0


# -- the stand-in answers as the Redis store does ---------------------------------------------------------------


def _entry(entry_id: str, namespace: str, expires_in: float) -> CacheEntry:
    return CacheEntry(
        entry_id=entry_id,
        request_key=entry_id,
        context_fp="fp",
        namespace=namespace,
        version="1",
        tenant="acme",
        user=None,
        prompt_text="q",
        completion=answer(),
        created_at=START,
        expires_at=START + timedelta(seconds=expires_in),
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[EntryStoreProtocol, VersionRegistryProtocol]]:
    if request.param == "memory":
        clock = MutableClock(START)
        yield MemoryEntryStore(clock=clock), MemoryVersionRegistry()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    keyspace = Keyspace(request.getfixturevalue("key_prefix"))
    yield EntryStore(client, keyspace), VersionRegistry(client, keyspace)
    client.close()


def test_memory_store_keeps_the_redis_store_contract(
    stores: tuple[EntryStoreProtocol, VersionRegistryProtocol],
) -> None:
    store, versions = stores
    a, b, c = _entry("a" * 64, "faq", 100), _entry("b" * 64, "faq", 10), _entry("c" * 64, "news", 50)
    store.put_many([(a, 3600), (b, 3600)])
    store.put(c, 3600)
    store.put_many([])
    assert store.get(a.entry_id) == a and store.get("missing") is None
    assert store.get_many([b.entry_id, "missing", c.entry_id]) == [b, None, c]
    assert store.get_many([]) == []
    assert {"faq", "news"} <= store.namespaces()
    assert (store.count("faq"), store.count("news"), store.count("nothing")) == (2, 1, 0)
    assert store.expired_ids("faq", START + timedelta(seconds=10)) == [b.entry_id]  # the bound is inclusive
    assert store.expired_ids("faq", START + timedelta(seconds=9)) == []
    assert store.expired_ids("faq", START + timedelta(seconds=100)) == [b.entry_id, a.entry_id]
    assert sorted(store.iter_entries("faq")) == sorted([(a.entry_id, a), (b.entry_id, b)])
    assert store.delete([("faq", a.entry_id), ("faq", "missing")]) == 1
    assert store.delete([]) == 0
    assert (store.get(a.entry_id), store.count("faq")) == (None, 1)
    assert "faq" in store.namespaces()  # a namespace stays known once it stored something
    assert versions.current("faq", "1") == "1"
    versions.set("faq", "7")
    assert (versions.current("faq", "1"), versions.current("news", "3")) == ("7", "3")


def test_memory_bodies_expire_on_the_clock_and_leave_their_index_row() -> None:
    clock = MutableClock(START)
    store = MemoryEntryStore(clock=clock)
    entry = _entry("d" * 64, "faq", 30)
    store.put(entry, 30)
    clock.advance(seconds=30)
    assert store.get(entry.entry_id) is None
    assert list(store.iter_entries("faq")) == [(entry.entry_id, None)]  # as Redis leaves the ns-entries row
    assert store.delete([("faq", entry.entry_id)]) == 0 and store.count("faq") == 0
