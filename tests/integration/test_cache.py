"""The cache facade on real Redis and both Qdrant engines."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from llmcache.shared.index.base import PointSelector
from llmcache.shared.models import (
    CacheRequest,
    Completion,
    ExactHit,
    HitKind,
    Miss,
    PurgeSelector,
    SemanticHit,
    utc_now,
)
from llmcache.shared.runtime import CacheRuntime

QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I change it?"


def request(text: str = QUESTION, **changes: Any) -> CacheRequest:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "system": "You are the support assistant of Acme.",
        "messages": [{"role": "user", "content": text}],
        "params": {"temperature": 0},
        "namespace": "faq",
        "scope": {"tenant": "acme"},
    }
    fields.update(changes)
    return CacheRequest.model_validate(fields)


def answer(text: str = "Open Settings > Security > Reset password.", **changes: Any) -> Completion:
    return Completion.model_validate(
        {"provider": "openai", "model": "gpt-4o-mini", "text": text, "finish_reason": "stop", **changes}
    )


def store(runtime: CacheRuntime, req: CacheRequest, completion: Completion | None = None, **kw: Any) -> str:
    first = runtime.cache.lookup(req)
    assert isinstance(first, Miss)
    outcome = runtime.cache.store(req, completion or answer(), miss=first, **kw)
    assert outcome.stored, outcome.reason
    assert outcome.entry_id is not None
    return outcome.entry_id


def test_exact_hit_returns_the_stored_answer(runtime: CacheRuntime) -> None:
    store(runtime, request())
    hit = runtime.cache.lookup(request())
    assert isinstance(hit, ExactHit)
    assert hit.kind is HitKind.EXACT
    assert hit.entry.completion.text == answer().text
    assert hit.similarity == 1.0


def test_paraphrase_is_a_semantic_hit(runtime: CacheRuntime) -> None:
    entry_id = store(runtime, request())
    hit = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(hit, SemanticHit), hit
    assert hit.entry.entry_id == entry_id
    assert 0.85 < hit.similarity < 1.0


def test_unrelated_question_misses(runtime: CacheRuntime) -> None:
    store(runtime, request())
    assert isinstance(runtime.cache.lookup(request("What is your refund policy for annual plans?")), Miss)


@pytest.mark.parametrize(
    "change",
    [
        {"scope": {"tenant": "globex"}},
        {"model": "gpt-4.1"},
        {"provider": "anthropic", "model": "gpt-4o-mini"},
        {"system": "You are the support assistant of Globex."},
        {"params": {"temperature": 0.7}},
        {"namespace": "default"},
    ],
    ids=["tenant", "model", "provider", "system", "params", "namespace"],
)
def test_identical_text_in_another_context_never_hits(runtime: CacheRuntime, change: dict[str, Any]) -> None:
    store(runtime, request())
    for text in (QUESTION, PARAPHRASE):
        result = runtime.cache.lookup(request(text, **change))
        assert isinstance(result, Miss), (change, text, result)


def test_follow_up_in_another_history_never_hits(runtime: CacheRuntime) -> None:
    history_a = [
        {"role": "user", "content": "Tell me about the Pro plan."},
        {"role": "assistant", "content": "Pro costs $20 a month."},
    ]
    history_b = [
        {"role": "user", "content": "Tell me about the Team plan."},
        {"role": "assistant", "content": "Team costs $50 a month."},
    ]
    follow_up = {"role": "user", "content": "How do I cancel it?"}
    store(runtime, request(messages=[*history_a, follow_up]))
    assert isinstance(runtime.cache.lookup(request(messages=[*history_a, follow_up])), ExactHit)
    assert isinstance(runtime.cache.lookup(request(messages=[*history_b, follow_up])), Miss)
    assert isinstance(runtime.cache.lookup(request(messages=[follow_up])), Miss)


def test_version_bump_invalidates_for_every_process(runtime: CacheRuntime) -> None:
    store(runtime, request())
    assert runtime.index.count(PointSelector(namespace="faq")) == 1
    result = runtime.cache.invalidate("faq", "2")
    assert (result.entries_deleted, result.points_deleted) == (1, 1)
    assert runtime.cache.current_version("faq") == "2"
    assert isinstance(runtime.cache.lookup(request()), Miss)
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), Miss)
    entry_id = store(runtime, request())
    hit = runtime.cache.lookup(request(PARAPHRASE))
    assert isinstance(hit, SemanticHit) and hit.entry.entry_id == entry_id and hit.entry.version == "2"


def test_answer_computed_before_a_bump_is_stored_under_the_old_version_and_swept(runtime: CacheRuntime) -> None:
    miss = runtime.cache.lookup(request())
    assert isinstance(miss, Miss)
    runtime.cache.invalidate("faq", "2")
    runtime.cache.store(request(), answer(), miss=miss)  # the provider answered under version 1
    assert isinstance(runtime.cache.lookup(request()), Miss)
    swept = runtime.cache.sweep_stale_versions()
    assert (swept.entries_deleted, swept.points_deleted) == (1, 1)


def test_ttl_expiry_then_sweep_removes_body_and_point(runtime: CacheRuntime) -> None:
    entry_id = store(runtime, request(), ttl_seconds=1)
    assert isinstance(runtime.cache.lookup(request()), ExactHit)
    body_key = runtime.keyspace.entry(entry_id)
    deadline = time.monotonic() + 10
    while runtime.cache.lookup(request()).kind is not HitKind.MISS:  # Redis expires the body on its own clock
        assert time.monotonic() < deadline, "Redis did not expire the body"
        time.sleep(0.05)
    assert not runtime.redis.exists(body_key)
    assert runtime.index.count(PointSelector(namespace="faq")) == 1  # Qdrant has no TTL: the point is still there
    swept = runtime.cache.sweep_expired(utc_now())
    assert swept.points_deleted == 1
    assert runtime.index.count(PointSelector(namespace="faq")) == 0
    assert runtime.cache.entry_count("faq") == 0


def test_hit_whose_body_vanished_is_a_miss_and_repairs_the_index(runtime: CacheRuntime) -> None:
    entry_id = store(runtime, request())
    runtime.redis.delete(runtime.keyspace.entry(entry_id))  # e.g. evicted under maxmemory
    assert isinstance(runtime.cache.lookup(request(PARAPHRASE)), Miss)
    assert runtime.index.count(PointSelector(namespace="faq")) == 0


def test_never_store_namespace_and_uncacheable_answers(runtime: CacheRuntime) -> None:
    user_request = request(namespace="user", scope={"tenant": "acme", "user": "alice"})
    assert runtime.cache.store(user_request, answer()).reason == "namespace-never-stores"
    assert isinstance(runtime.cache.lookup(user_request), Miss)
    for bad, reason in [
        (answer(finish_reason="length"), "truncated"),
        (answer(text=""), "empty-answer"),
        (answer(is_error=True), "provider-error"),
    ]:
        outcome = runtime.cache.store(request(), bad)
        assert (outcome.stored, outcome.reason) == (False, reason)
    assert isinstance(runtime.cache.lookup(request()), Miss)
    assert runtime.index.count() == 0


def test_lookup_many_matches_single_lookups(runtime: CacheRuntime) -> None:
    store(runtime, request())
    batch = [request(), request(PARAPHRASE), request("What is your refund policy?"), request(scope={"tenant": "x"})]
    results = runtime.cache.lookup_many(batch, alias=False)  # an alias would make the paraphrase exact below
    assert [r.kind for r in results] == [HitKind.EXACT, HitKind.SEMANTIC, HitKind.MISS, HitKind.MISS]
    assert [r.kind for r in results] == [runtime.cache.lookup(r, alias=False).kind for r in batch]


def _seed_for_purge(runtime: CacheRuntime) -> dict[str, str]:
    return {
        "acme": store(runtime, request()),
        "globex": store(runtime, request(scope={"tenant": "globex"})),
        "news": store(runtime, request("What happened today?", namespace="news")),
        "code": store(runtime, request("Write a haiku about Redis.", namespace="code")),
    }


@pytest.mark.parametrize("kind", ["ids", "tenant", "namespace", "version", "older_than"])
def test_purge_by_each_selector(runtime: CacheRuntime, kind: str) -> None:
    ids = _seed_for_purge(runtime)
    selectors = {
        "ids": (PurgeSelector(ids=[ids["news"]]), "news"),
        "tenant": (PurgeSelector(tenant="globex"), "globex"),
        "namespace": (PurgeSelector(namespace="code"), "code"),
        "version": (PurgeSelector(namespace="news", version="1"), "news"),
    }
    if kind == "older_than":
        result = runtime.cache.purge(PurgeSelector(older_than=utc_now() + timedelta(seconds=1)))
        assert (result.entries_deleted, result.points_deleted) == (4, 4)
        assert runtime.index.count() == 0
        return
    selector, gone = selectors[kind]
    result = runtime.cache.purge(selector)
    assert (result.entries_deleted, result.points_deleted) == (1, 1)
    assert runtime.index.count() == 3
    still_there = {
        "acme": request(),
        "globex": request(scope={"tenant": "globex"}),
        "news": request("What happened today?", namespace="news"),
        "code": request("Write a haiku about Redis.", namespace="code"),
    }
    for name, req in still_there.items():
        expected = Miss if name == gone else ExactHit
        assert isinstance(runtime.cache.lookup(req), expected), name


def test_purge_needs_exactly_one_selection(runtime: CacheRuntime) -> None:
    """The one purge rule lives on PurgeSelector: an ambiguous selection never reaches the cache."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one"):
        runtime.cache.purge(PurgeSelector(tenant="a", namespace="faq"))
    with pytest.raises(ValidationError, match="version: goes with namespace"):
        runtime.cache.purge(PurgeSelector(ids=["x"], version="1"))
