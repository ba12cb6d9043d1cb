"""Dedupe across concurrent jobs on real worker processes."""

from __future__ import annotations

import uuid
from typing import Any

from llmcache.shared.embedding.base import Embedder
from llmcache.shared.jobs import Job, JobResult, Outcome
from llmcache.shared.models import CacheRequest
from tests.cluster.conftest import Cluster

SYSTEM = "You are the support assistant of Acme Cloud. Answer in two sentences."
PARAPHRASES = [
    "How do I reset my password?", "How can I reset my password?", "How do I reset my password",
    "How do I reset my account password?", "How do I reset the password?", "How to reset my password?",
    "How do I reset my password please?", "Please, how do I reset my password?",
    "How do I go about resetting my password?", "How do I reset my password now?", "How do I reset my own password?",
    "How would I reset my password?", "How should I reset my password?", "How do I do a password reset?",
    "How can I do a reset of my password?", "Where do I reset my password?", "What's the way to reset my password?",
    "How do I reset my password?!", "How can I reset the password?", "How could I reset my password?",
]  # fmt: skip


def request(text: str, tenant: str, namespace: str = "faq", model: str = "gpt-4o-mini") -> CacheRequest:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": model,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": text}],
        "params": {"max_tokens": 200},
        "namespace": namespace,
        "scope": {"tenant": tenant},
    }
    return CacheRequest.model_validate(fields)


def results(cluster: Cluster, jobs: list[Job]) -> list[JobResult]:
    handles = cluster.client.submit_many(jobs)
    return [h.result(timeout=120) for h in handles]


def test_twenty_identical_concurrent_jobs_make_one_provider_call(cluster: Cluster) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"  # the emulator counts calls per model: a fresh one per test
    tenant = uuid.uuid4().hex[:8]
    done = results(cluster, [Job(request=request("How do I export my data?", tenant, model=model)) for _ in range(20)])
    assert cluster.provider_calls(model) == 1
    outcomes = [r.outcome for r in done]
    assert outcomes.count(Outcome.MISS) == 1
    assert outcomes.count(Outcome.COALESCED) + outcomes.count(Outcome.EXACT) == 19
    assert outcomes.count(Outcome.COALESCED) >= 1  # they really were in flight together
    assert len({r.completion.text for r in done if r.completion}) == 1
    leader = next(r for r in done if r.outcome is Outcome.MISS)
    assert leader.cost_usd > 0 and all(r.saved_usd == leader.cost_usd for r in done if r is not leader)


def test_twenty_concurrent_paraphrases_make_one_provider_call(cluster: Cluster, embedder: Embedder) -> None:
    vectors = embedder.embed_batch(PARAPHRASES)
    assert float((vectors @ vectors.T).min()) >= 0.85  # precondition: every pair is above the namespace threshold
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    done = results(cluster, [Job(request=request(t, tenant, namespace="para", model=model)) for t in PARAPHRASES])
    assert cluster.provider_calls(model) == 1
    outcomes = [r.outcome for r in done]
    assert outcomes.count(Outcome.MISS) == 1
    assert outcomes.count(Outcome.COALESCED) >= 1
    assert all(r.outcome in (Outcome.MISS, Outcome.COALESCED, Outcome.SEMANTIC, Outcome.EXACT) for r in done)
    assert len({r.completion.text for r in done if r.completion}) == 1


def test_same_prompt_in_two_tenants_makes_two_calls_and_no_cross_hit(cluster: Cluster) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenants = [uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]]
    done = results(cluster, [Job(request=request("What is your SLA?", t, model=model)) for t in tenants])
    assert cluster.provider_calls(model) == 2
    assert [r.outcome for r in done] == [Outcome.MISS, Outcome.MISS]
    again = results(cluster, [Job(request=request("What is your SLA?", t, model=model)) for t in tenants])
    assert [r.outcome for r in again] == [Outcome.EXACT, Outcome.EXACT]
    assert [r.entry_id for r in again] == [r.entry_id for r in done]
    assert done[0].entry_id != done[1].entry_id


def test_redelivered_job_does_not_pay_twice(cluster: Cluster) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    job = Job(request=request("Can I pay by invoice?", uuid.uuid4().hex[:8], model=model))
    first = results(cluster, [job])[0]
    replay = results(cluster, [job.model_copy(update={"job_id": uuid.uuid4().hex})])[0]  # same job, delivered again
    assert (first.outcome, replay.outcome) == (Outcome.MISS, Outcome.EXACT)
    assert cluster.provider_calls(model) == 1
