"""Worker tasks of `batch run --via batch-api`: the cache side of a run whose misses the providers' Batch APIs
answer. The worker owns the index, so lookups and stores run here; the provider batch jobs are the CLI's.

- `llmcache.batch_api.lookup(jobs)`: one batched lookup of a chunk of jobs (one embedding call, one vector search);
  a hit comes back as its JobResult, a miss as its request key. Misses in the chunk that the false-hit guard
  accepts as equivalent (same context, cosine above the namespace floor) name the first of them as their leader,
  so that only one of them is sent.
- `llmcache.batch_api.store(items)`: stores provider answers (a request and its completion each).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import structlog
from celery import Celery

from llmcache.shared.errors import LLMCacheError
from llmcache.shared.jobs import Job, JobError, JobResult, Outcome
from llmcache.shared.models import Completion, Miss
from llmcache.shared.request_keys import semantic_text
from llmcache.shared.runtime import CacheRuntime
from llmcache.workers.resources import WorkerResources

log = structlog.get_logger("llmcache.batch_api.tasks")
LOOKUP_TASK = "llmcache.batch_api.lookup"
STORE_TASK = "llmcache.batch_api.store"


def register_batch_api_tasks(app: Celery, resources: WorkerResources) -> None:
    @app.task(name=LOOKUP_TASK, acks_late=True)
    def lookup(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return lookup_chunk(resources.runtime, [Job.model_validate(j) for j in jobs])

    @app.task(name=STORE_TASK, acks_late=True)
    def store(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return store_answers(resources.runtime, items)


def _hit(job: Job, found: Any) -> dict[str, Any]:
    result = JobResult(
        job_id=job.job_id,
        custom_id=job.custom_id,
        outcome=Outcome(found.kind.value),
        similarity=found.similarity,
        completion=found.entry.completion,
        saved_usd=found.entry.completion.cost_usd,
        entry_id=found.entry.entry_id,
    )
    return {"kind": "hit", "result": result.model_dump(mode="json")}


def _error(job: Job, error: Exception) -> dict[str, Any]:
    result = JobResult(
        job_id=job.job_id,
        custom_id=job.custom_id,
        outcome=Outcome.ERROR,
        error=JobError(type=type(error).__name__, message=str(error), retryable=False),
    )
    return {"kind": "error", "result": result.model_dump(mode="json")}


def lookup_chunk(runtime: CacheRuntime, jobs: Sequence[Job]) -> list[dict[str, Any]]:
    cache = runtime.cache
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    misses: list[tuple[int, Miss]] = []
    groups: dict[float | None, list[int]] = {}
    for index, job in enumerate(jobs):
        if job.overrides.no_cache:
            try:
                misses.append((index, cache.miss_for(job.request)))
            except (LLMCacheError, ValueError) as error:
                out[index] = _error(job, error)
        else:
            groups.setdefault(job.overrides.threshold, []).append(index)
    for threshold, indexes in groups.items():
        try:
            found = cache.lookup_many([jobs[i].request for i in indexes], threshold=threshold)
        except (LLMCacheError, ValueError) as error:
            for i in indexes:
                out[i] = _error(jobs[i], error)
            continue
        for i, result in zip(indexes, found, strict=True):
            if isinstance(result, Miss):
                misses.append((i, result))
            else:
                out[i] = _hit(jobs[i], result)
    leaders: dict[str, list[tuple[str, Any, str | None]]] = {}  # context fp -> (request key, vector, text)
    for index, miss in sorted(misses):
        job = jobs[index]
        policy = cache.policy(job.request.namespace)
        leader, similarity = _semantic_leader(runtime, job, miss, leaders)
        out[index] = {
            "kind": "miss",
            "request_key": miss.request_key,
            "leader_key": leader,
            "similarity": similarity,
            "prompt_cache_ttl": policy.prompt_cache_ttl,
        }
    return [row for row in out if row is not None]


def _semantic_leader(
    runtime: CacheRuntime, job: Job, miss: Miss, leaders: dict[str, list[tuple[str, Any, str | None]]]
) -> tuple[str | None, float | None]:
    """The earlier miss of the chunk this one is equivalent to, else None (and this one becomes a leader others may
    follow). As a lookup decides: only the nearest leader in the same context is a candidate, above the namespace's
    cosine floor, and the false-hit guard must agree; a refused nearest leader makes this miss a leader of its own."""
    if miss.embedding is None or miss.context_fp is None or miss.request_key is None or job.overrides.no_cache:
        return None, None
    policy = runtime.cache.policy(job.request.namespace)
    floor = policy.similarity_threshold if job.overrides.threshold is None else job.overrides.threshold
    text = semantic_text(job.request)
    vector = np.asarray(miss.embedding, dtype=np.float32)
    known = leaders.setdefault(miss.context_fp, [])
    if any(key == miss.request_key for key, _, _ in known):
        return None, None  # the same request: the caller dedupes those by key
    if known:
        similarities = np.stack([other for _, other, _ in known]) @ vector
        best = int(np.argmax(similarities))
        similarity = float(similarities[best])
        key, other, other_text = known[best]
        allowed = similarity >= floor
        if allowed and policy.guard and text is not None and other_text is not None:
            verdict = runtime.guard.verify(
                text, other_text, query_vector=vector, cached_vector=other, thresholds=policy.verifier_thresholds()
            )
            allowed = verdict.allowed
        if allowed:
            return key, similarity
    known.append((miss.request_key, vector, text))
    return None, None


def store_answers(runtime: CacheRuntime, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        job = Job.model_validate(item["job"])
        completion = Completion.model_validate(item["completion"])
        try:
            stored = runtime.cache.store(job.request, completion, ttl_seconds=job.overrides.ttl_seconds)
            out.append({"stored": stored.stored, "entry_id": stored.entry_id, "reason": stored.reason})
        except (LLMCacheError, ValueError) as error:  # the answer is still written out; say it was not kept
            log.warning("batch_api_store_failed", custom_id=job.custom_id, job_id=job.job_id, error=str(error))
            out.append({"stored": False, "entry_id": None, "reason": f"store failed: {error}"})
    return out
