"""`MissAnswerer` over the providers' sync SDK clients: one chat call per miss, on a thread pool, with a cap on
the calls in flight per provider/model (shared by every `answer` call of the process), the shared Redis rate
limit and tenacity's retries (both inside `Provider.complete`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

import structlog

from llmcache.shared.answering.base import Answered, Failed, MissOutcome, MissRequest
from llmcache.shared.errors import (
    BackendError,
    LLMCacheError,
    ProviderError,
    RateLimitWaitTooLongError,
    RetryableProviderError,
)
from llmcache.shared.jobs import JobError
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.base import Provider
from llmcache.shared.providers.lint import PromptLintReporter

log = structlog.get_logger("llmcache.answering")


def failure(key: str, error: BaseException) -> Failed:
    """An exception out of a provider call as a `Failed` outcome, with its retryable flag."""
    retryable = isinstance(error, RetryableProviderError | RateLimitWaitTooLongError | BackendError)
    status = error.status if isinstance(error, ProviderError) else None
    message = error.message if isinstance(error, ProviderError) else str(error) or type(error).__name__
    if not isinstance(error, LLMCacheError):
        message = f"{type(error).__name__}: {message}"
    return Failed(
        key=key, error=JobError(type=type(error).__name__, message=message, status=status, retryable=retryable)
    )


class SyncSDKAnswerer:
    """`concurrency`: calls in flight at once per provider/model, in this process (`per_model` overrides it for
    "provider/model" names)."""

    def __init__(
        self,
        providers: Mapping[ProviderName, Provider],
        *,
        concurrency: int = 16,
        per_model: Mapping[str, int] | None = None,
        linter: PromptLintReporter | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._providers = providers
        self._concurrency = concurrency
        self._per_model = dict(per_model or {})
        self._linter = linter or PromptLintReporter()
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @property
    def name(self) -> str:
        return "sync-sdk"

    def _slot(self, provider: str, model: str) -> threading.BoundedSemaphore:
        name = f"{provider}/{model}"
        with self._lock:
            if name not in self._slots:
                self._slots[name] = threading.BoundedSemaphore(self._per_model.get(name, self._concurrency))
            return self._slots[name]

    def _one(self, miss: MissRequest) -> MissOutcome:
        request = miss.request
        try:
            self._linter.check(request)
            provider = self._providers[request.provider]
            with self._slot(request.provider, request.model):
                completion = provider.complete(request, prompt_cache_ttl=miss.prompt_cache_ttl)
            return Answered(key=miss.key, completion=completion)
        except Exception as error:  # every failure is this request's outcome, never the batch's
            if not isinstance(error, LLMCacheError):
                log.exception("miss_answer_failed", request_key=miss.key[:16])
            return failure(miss.key, error)

    def answer(self, misses: Sequence[MissRequest]) -> Iterator[MissOutcome]:
        if not misses:
            return
        models = {(m.request.provider, m.request.model) for m in misses}
        workers = min(len(misses), sum(self._per_model.get(f"{p}/{m}", self._concurrency) for p, m in models))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmcache-miss") as pool:
            futures: list[Future[MissOutcome]] = [pool.submit(self._one, miss) for miss in misses]
            for future in as_completed(futures):
                yield future.result()
