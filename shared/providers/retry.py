"""Retries owned by tenacity (the SDKs' own retries are off): retryable errors back off exponentially with jitter,
or wait what the provider asked for in `retry-after-ms` / `retry-after` (capped); permanent errors raise at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_base, wait_random_exponential

from llmcache.shared.config import RetrySettings
from llmcache.shared.errors import RetryableProviderError

log = structlog.get_logger("llmcache.providers.retry")
T = TypeVar("T")


class wait_retry_after_or_backoff(wait_base):  # noqa: N801 - tenacity's naming style
    def __init__(self, settings: RetrySettings) -> None:
        self._cap = settings.retry_after_cap_seconds
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_initial_seconds, max=settings.backoff_max_seconds
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableProviderError) and error.retry_after is not None:
            return float(min(max(error.retry_after, 0.0), self._cap))
        return float(self._backoff(retry_state))


def _log_retry(retry_state: RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome is not None else None
    log.warning(
        "provider_retry",
        attempt=retry_state.attempt_number,
        wait_s=round(retry_state.upcoming_sleep, 3),
        error=str(error),
    )


def call_with_retries(settings: RetrySettings, call: Callable[[], T]) -> T:
    retrying = Retrying(
        retry=retry_if_exception_type(RetryableProviderError),
        wait=wait_retry_after_or_backoff(settings),
        stop=stop_after_attempt(settings.max_attempts) | stop_after_delay(settings.max_elapsed_seconds),
        before_sleep=_log_retry,
        reraise=True,
    )
    return retrying(call)
