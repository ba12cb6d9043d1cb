"""One job, end to end, without Celery: exact lookup -> semantic lookup -> in-flight coalescing -> provider call
-> store -> result. The Celery task in `workers` only runs this and turns `Deferred` into a retry with a countdown.

Idempotent: a redelivered job looks the cache up first, so an answer already stored is never paid for twice.
A paid answer is never lost: when storing it or writing the job's metrics fails after the provider call, the answer
is still returned, with a warning and the `store_failed` counter.

Logging: one info line per finished job (`job_done`, outcome and costs, never the answer text); deferrals are debug.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from llmcache.shared.cache import LLMCache
from llmcache.shared.coalesce import InflightCoordinator, Leadership, WaitOn
from llmcache.shared.errors import BackendError, LLMCacheError, ProviderError, RetryableProviderError
from llmcache.shared.jobs import Job, JobError, JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.models import ExactHit, Miss, ProviderName, SemanticHit
from llmcache.shared.providers.base import Provider
from llmcache.shared.providers.lint import PromptLintReporter
from llmcache.shared.request_keys import semantic_text

log = structlog.get_logger("llmcache.pipeline")


@dataclass(frozen=True)
class Deferred:
    """Another job is answering this one: run it again after `countdown` seconds."""

    wait_on: WaitOn
    countdown: float


class JobProcessor:
    def __init__(
        self,
        cache: LLMCache,
        providers: Mapping[ProviderName, Provider],
        coordinator: InflightCoordinator,
        *,
        recorder: MetricsRecorder | None = None,
        linter: PromptLintReporter | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._cache = cache
        self._providers = providers
        self._coordinator = coordinator
        self._recorder = recorder
        self._linter = linter or PromptLintReporter()
        self._clock = clock

    def process(self, job: Job, *, waits: int = 0) -> JobResult | Deferred:
        """`waits`: how many times this job already deferred to a leader (its hit then counts as coalesced)."""
        started = self._clock()
        bound = log.bind(job_id=job.job_id, custom_id=job.custom_id, namespace=job.request.namespace)
        try:
            outcome = self._run(job, waits, started)
        except ProviderError as error:
            outcome = self._failed(job, started, error, retryable=isinstance(error, RetryableProviderError))
        except LLMCacheError as error:  # a backend that failed may answer on the next try; a bad request will not
            outcome = self._failed(job, started, error, retryable=isinstance(error, BackendError))
        if isinstance(outcome, Deferred):
            bound.debug("job_deferred", cache_outcome="waiting", leader=outcome.wait_on.request_key[:16], waits=waits)
            return outcome
        if self._recorder is not None:
            try:
                self._recorder.record(job.request.namespace, job.request.model, outcome)
            except Exception as error:  # the answer is worth more than its metrics
                bound.warning(
                    "metrics_not_recorded",
                    cache_outcome=outcome.outcome.value,
                    provider_called=outcome.provider_called,
                    error=f"{type(error).__name__}: {error}",
                )
        bound.info(
            "job_done",
            cache_outcome=outcome.outcome.value,
            similarity=outcome.similarity,
            provider_called=outcome.provider_called,
            cost_usd=outcome.cost_usd,
            saved_usd=outcome.saved_usd,
            latency_ms=round(outcome.latency_ms, 2),
            error=outcome.error.message if outcome.error else None,
        )
        return outcome

    def _run(self, job: Job, waits: int, started: float) -> JobResult | Deferred:
        request, overrides = job.request, job.overrides
        looks_up = not overrides.no_cache or waits > 0  # after waiting, the leader's answer is what we want
        if looks_up:
            found = self._cache.lookup(request, threshold=overrides.threshold)
            if not isinstance(found, Miss):
                return self._hit(job, found, waits, started)
            if found.guard_reasons and self._recorder is not None:
                self._recorder.record_guard_refusal(request.namespace, found.guard_reasons)
            miss = found
        else:
            miss = self._cache.miss_for(request)
        assert miss.request_key is not None
        policy = self._cache.policy(request.namespace)
        # the lookup embedded the question only where semantic matching applies: no vector, no semantic wait
        semantic = looks_up and miss.embedding is not None and miss.context_fp is not None
        floor = policy.similarity_threshold if overrides.threshold is None else overrides.threshold
        threshold = floor if semantic else None
        guarded = policy.guard
        claim = self._coordinator.claim(
            miss.request_key,
            miss.context_fp if threshold is not None else None,
            miss.embedding,
            threshold,
            text=semantic_text(request) if guarded else None,
            verifier=policy.verifier_thresholds(),
        )
        if isinstance(claim, WaitOn):
            return Deferred(claim, countdown=min(0.25 * 2**waits, 2.0))
        return self._lead(job, claim, miss, looks_up=looks_up, waits=waits, started=started)

    def _lead(
        self, job: Job, leadership: Leadership, miss: Miss, *, looks_up: bool, waits: int, started: float
    ) -> JobResult:
        request, overrides = job.request, job.overrides
        try:
            if looks_up:  # someone may have stored the answer between our lookup and our claim
                again = self._cache.lookup(request, threshold=overrides.threshold, embedding=miss.embedding)
                if not isinstance(again, Miss):
                    return self._hit(job, again, waits, started)
            self._linter.check(request)
            provider = self._providers[request.provider]
            ttl = self._cache.policy(request.namespace).prompt_cache_ttl
            completion = provider.complete(request, prompt_cache_ttl=ttl)
            stored = None
            if not overrides.no_store:
                try:
                    stored = self._cache.store(request, completion, ttl_seconds=overrides.ttl_seconds, miss=miss)
                except Exception as error:  # paid for: return it unstored rather than lose it
                    self._store_failed(job, error)
            return JobResult(
                job_id=job.job_id,
                custom_id=job.custom_id,
                outcome=Outcome.MISS,
                completion=completion,
                cost_usd=completion.cost_usd,
                provider_called=True,
                stored=bool(stored and stored.stored),
                latency_ms=(self._clock() - started) * 1000,
                entry_id=stored.entry_id if stored else None,
            )
        finally:
            self._release(job, leadership)

    def _release(self, job: Job, leadership: Leadership) -> None:
        try:
            self._coordinator.release(leadership)
        except BackendError as error:  # the lock expires by itself; the answer (or error) still goes back
            log.warning("inflight_lock_not_released", job_id=job.job_id, custom_id=job.custom_id, error=str(error))

    def _store_failed(self, job: Job, error: Exception) -> None:
        log.warning(
            "answer_not_stored",
            job_id=job.job_id,
            custom_id=job.custom_id,
            namespace=job.request.namespace,
            cache_outcome=Outcome.MISS.value,
            reason="the provider answered but storing the answer failed; it is returned unstored",
            error=f"{type(error).__name__}: {error}",
        )
        if self._recorder is None:
            return
        try:
            self._recorder.count(job.request.namespace, job.request.model, "store_failed")
        except Exception as count_error:  # the same backend is likely down: the warning above still says it
            log.warning("store_failed_not_counted", job_id=job.job_id, error=f"{type(count_error).__name__}")

    def _hit(self, job: Job, hit: ExactHit | SemanticHit, waits: int, started: float) -> JobResult:
        kind = Outcome.COALESCED if waits > 0 else Outcome(hit.kind.value)
        return JobResult(
            job_id=job.job_id,
            custom_id=job.custom_id,
            outcome=kind,
            similarity=hit.similarity,
            completion=hit.entry.completion,
            saved_usd=hit.entry.completion.cost_usd,
            latency_ms=(self._clock() - started) * 1000,
            entry_id=hit.entry.entry_id,
        )

    def _failed(self, job: Job, started: float, error: LLMCacheError, retryable: bool) -> JobResult:
        status = error.status if isinstance(error, ProviderError) else None
        message = error.message if isinstance(error, ProviderError) else str(error)
        return JobResult(
            job_id=job.job_id,
            custom_id=job.custom_id,
            outcome=Outcome.ERROR,
            error=JobError(type=type(error).__name__, message=message, status=status, retryable=retryable),
            latency_ms=(self._clock() - started) * 1000,
        )
