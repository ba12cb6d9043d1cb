"""Alias entries on real Redis and both Qdrant engines: a paraphrase served by a guard judgement is an exact hit from
then on, under its own request key (no vector point of its own), and goes with its source on every purge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from llmcache.shared.cache import LLMCache
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.errors import BackendError
from llmcache.shared.index.base import PointSelector
from llmcache.shared.models import CacheEntry, ExactHit, Miss, PurgeSelector, SemanticHit
from llmcache.shared.policy import NamespacePolicy
from llmcache.shared.redis_keys import Keyspace
from llmcache.shared.request_keys import compute_keys, embedder_identity
from llmcache.shared.runtime import CacheRuntime, build_runtime
from tests.conftest import make_settings
from tests.integration.test_cache import PARAPHRASE, QUESTION, answer, request, store


def own_key(runtime: CacheRuntime, text: str, **changes: Any) -> str:
    req = request(text, **changes)
    version = runtime.cache.current_version(req.namespace)
    policy = runtime.cache.policy(req.namespace)
    return compute_keys(req, version, policy.user_scoped, embedder_identity(runtime.embedder)).request_key


def test_a_paraphrase_served_semantically_is_then_an_exact_hit_under_its_own_key(runtime: CacheRuntime) -> None:
    source_id = store(runtime, request(), ttl_seconds=600)
    points = runtime.index.count()
    first = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(first, SemanticHit) and first.entry.entry_id == source_id

    key = own_key(runtime, PARAPHRASE)
    alias = runtime.cache._context.store.get(key)
    assert alias is not None and alias.alias is not None
    assert alias.alias_of == source_id and alias.alias.outcome == "semantic"
    assert alias.alias.similarity == pytest.approx(first.similarity)
    assert (alias.context_fp, alias.namespace, alias.version, alias.tenant, alias.user) == (
        first.entry.context_fp, first.entry.namespace, first.entry.version, first.entry.tenant, first.entry.user,
    )  # fmt: skip
    assert alias.prompt_text == QUESTION  # what was served: the source's question and answer
    assert alias.created_at == first.entry.created_at and alias.expires_at <= first.entry.expires_at
    assert runtime.index.count() == points  # exact path only: no vector point crowds the index
    ttl = runtime.redis.ttl(Keyspace(runtime.keyspace.prefix).entry(key))
    assert 0 < ttl <= 600

    again = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(again, ExactHit), again
    assert again.entry.completion.text == answer().text and again.entry.alias_of == source_id
    batched = runtime.cache.lookup_many([request(PARAPHRASE), request()])
    assert [type(r) for r in batched] == [ExactHit, ExactHit]


def test_lookup_many_writes_one_alias_per_request_key_in_one_go(runtime: CacheRuntime) -> None:
    source_id = store(runtime, request())
    others = ["Hi, how do I reset my password? Thanks!", "how do I reset my password"]
    first = runtime.cache.lookup_many(
        [request(PARAPHRASE), request(others[0]), request(PARAPHRASE), request(others[1])]
    )
    assert all(isinstance(r, SemanticHit) for r in first), first
    stored = runtime.cache._context.store.get_many([own_key(runtime, t) for t in [PARAPHRASE, *others]])
    assert [e.alias_of if e is not None else None for e in stored] == [source_id] * 3
    second = runtime.cache.lookup_many([request(PARAPHRASE), request(others[0]), request(others[1])])
    assert all(isinstance(r, ExactHit) and r.entry.alias_of == source_id for r in second), second


@pytest.mark.parametrize(
    "purge",
    [
        pytest.param(lambda cache, source_id: cache.purge(PurgeSelector(ids=[source_id])), id="source-id"),
        pytest.param(lambda cache, _: cache.purge(PurgeSelector(tenant="acme")), id="tenant"),
        pytest.param(lambda cache, _: cache.purge(PurgeSelector(namespace="faq")), id="namespace"),
        pytest.param(lambda cache, _: cache.purge(PurgeSelector(namespace="faq", version="1")), id="version"),
        pytest.param(lambda cache, _: cache.invalidate("faq", "2"), id="invalidate"),
    ],
)
def test_purges_and_invalidation_remove_the_alias_with_its_source(runtime: CacheRuntime, purge: Any) -> None:
    source_id = store(runtime, request())
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), SemanticHit)
    key = own_key(runtime, PARAPHRASE)
    assert runtime.cache._context.store.get(key) is not None
    result = purge(runtime.cache, source_id)
    assert result.entries_deleted == 2  # the source and its alias
    assert runtime.cache._context.store.get(key) is None
    assert runtime.cache.entry_count("faq") == 0
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), Miss)
    assert isinstance(runtime.cache.lookup(request()), Miss)


def test_an_older_than_purge_takes_the_alias_with_the_answer_it_copies(runtime: CacheRuntime) -> None:
    source_id = store(runtime, request())
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), SemanticHit)
    source = runtime.cache._context.store.get(source_id)
    assert source is not None
    result = runtime.cache.purge(PurgeSelector(older_than=source.created_at + timedelta(microseconds=1)))
    assert result.entries_deleted == 2
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), Miss)


def test_an_answer_of_its_own_replaces_an_alias_and_survives_the_sources_purge(runtime: CacheRuntime) -> None:
    source_id = store(runtime, request())
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), SemanticHit)
    own = runtime.cache.store(request(PARAPHRASE), answer("Its own answer."))  # e.g. a no_cache line's call
    assert own.stored
    hit = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(hit, ExactHit) and hit.entry.alias is None and hit.entry.completion.text == "Its own answer."
    runtime.cache.purge(PurgeSelector(ids=[source_id]))
    kept = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(kept, ExactHit) and kept.entry.completion.text == "Its own answer."


def test_an_alias_never_replaces_an_answer_of_its_own(runtime: CacheRuntime) -> None:
    source_id = store(runtime, request())
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), SemanticHit)
    key = own_key(runtime, PARAPHRASE)
    alias = runtime.cache._context.store.get(key)
    assert alias is not None
    runtime.cache.purge(PurgeSelector(ids=[key]))  # the alias's own id purges the alias alone
    assert runtime.cache._context.store.get(source_id) is not None
    runtime.cache.store(request(PARAPHRASE), answer("Its own answer."))
    # a lookup that raced the store offers its alias after it: NX keeps the answer of its own
    assert runtime.cache._context.store.put_aliases([(alias, 60)]) == 0
    hit = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(hit, ExactHit) and hit.entry.completion.text == "Its own answer."


def test_no_alias_under_a_looser_floor_override_or_when_asked_not_to(runtime: CacheRuntime) -> None:
    store(runtime, request())
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE), threshold=0.3), SemanticHit)
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE), alias=False), SemanticHit)
    assert runtime.cache._context.store.get(own_key(runtime, PARAPHRASE)) is None
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE), threshold=0.95), Miss)  # a stricter floor decides
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), SemanticHit)
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE), threshold=0.95), ExactHit)  # now its own key


def test_a_namespace_can_turn_aliases_off(
    engine: str, tmp_path: Path, redis_url: str, key_prefix: str, embedder: Embedder
) -> None:
    settings = make_settings(engine, tmp_path, redis_url, key_prefix)
    policies = dict(settings.namespaces)
    policies["faq"] = policies["faq"].model_copy(update={"alias_semantic_hits": False})
    off = build_runtime(settings.model_copy(update={"namespaces": policies}), embedder=embedder)
    try:
        store(off, request())
        for _ in range(2):
            assert isinstance(off.cache.lookup(request(PARAPHRASE)), SemanticHit)
            assert isinstance(off.cache.lookup_many([request(PARAPHRASE)])[0], SemanticHit)
        assert off.cache._context.store.get(own_key(off, PARAPHRASE)) is None
    finally:
        off.close()


class _AliasWritesFail:
    """The real store, but its alias writes fail as a Redis outage would (every other call goes through)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def put_aliases(self, entries: Sequence[tuple[CacheEntry, int]]) -> int:
        raise BackendError("redis: connection refused", backend="redis", operation="put_aliases")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_failed_alias_write_still_serves_the_hit_and_tells_the_metric(runtime: CacheRuntime) -> None:
    store(runtime, request())
    failed: list[CacheEntry] = []
    context = runtime.cache._context
    cache = LLMCache(
        context.policies,
        store=_AliasWritesFail(context.store),
        versions=context.versions,
        index=context.index,
        embedder=context.embedder,
        guard=context.guard,
        on_alias_failure=failed.extend,
    )
    hit = cache.lookup(request(PARAPHRASE))
    assert isinstance(hit, SemanticHit) and hit.entry.completion.text == answer().text
    assert isinstance(cache.lookup_many([request(PARAPHRASE)])[0], SemanticHit)
    assert len(failed) == 2 and all(e.alias_of == hit.entry.entry_id for e in failed)
    assert context.store.get(own_key(runtime, PARAPHRASE)) is None


def test_the_runtime_counts_failed_alias_writes(runtime: CacheRuntime) -> None:
    hook = runtime.cache._context.on_alias_failure
    assert hook is not None
    entry_id = store(runtime, request())
    source = runtime.cache._context.store.get(entry_id)
    assert source is not None
    hook([source, source])
    counters = runtime.redis.hgetall(Keyspace(runtime.keyspace.prefix).metrics_counters())
    assert counters == {b"faq|gpt-4o-mini|alias_failed": b"2"}


def test_alias_entries_count_as_entries_but_not_as_points(runtime: CacheRuntime) -> None:
    store(runtime, request())
    runtime.cache.lookup(request(PARAPHRASE))
    assert runtime.cache.entry_count("faq") == 2
    assert runtime.index.count(PointSelector(namespace="faq")) == 1


def test_an_aliased_policy_keeps_its_default_on() -> None:
    assert NamespacePolicy().alias_semantic_hits is True
