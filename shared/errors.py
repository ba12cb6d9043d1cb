"""The exception tree, in one place.

LLMCacheError                      root: catch this to catch everything llmcache raises
 +-- ConfigurationError            settings or namespace policy that cannot work
      +-- ShardInUseError          the embedded Qdrant Edge shard is owned by another process
 +-- InvalidRequestError           a request that cannot be keyed (names the field)
 +-- BackendError                  Redis or the vector index failed; the message names which and what it did
 +-- ProviderError                 OpenAI or Anthropic did not answer; carries provider, status, request id
      +-- RetryableProviderError   408, 409, 429, 5xx, 529, timeouts, connection errors (retried, then raised)
      +-- PermanentProviderError   400, 401, 403, 404, 413, 422, ... : never retried, the provider's message kept
 +-- RateLimitWaitTooLongError          the shared rate limit would make a caller wait longer than it allows
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class LLMCacheError(Exception):
    """Root of every error llmcache raises."""


class ConfigurationError(LLMCacheError):
    pass


class ShardInUseError(ConfigurationError):
    pass


class InvalidRequestError(LLMCacheError, ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class BackendError(LLMCacheError):
    """`backend` is "redis" or "qdrant", `operation` what llmcache was doing; the cause is chained (`__cause__`)."""

    def __init__(self, message: str, *, backend: str | None = None, operation: str | None = None) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation


def wraps_backend_errors(
    backend: str, errors: tuple[type[BaseException], ...], passthrough: tuple[type[BaseException], ...] = ()
) -> Callable[[F], F]:
    """Decorates an adapter method: `errors` raised by the backend's client become `BackendError` naming the backend
    and the method (`EntryStore.get_many`), the cause chained; llmcache's own errors and `passthrough` (a caller's
    mistake, such as a `ValueError`) leave as they are. Generator methods are covered while they iterate."""
    kept: tuple[type[BaseException], ...] = (LLMCacheError, *passthrough)

    def decorate(function: F) -> F:
        operation = function.__qualname__

        def wrapped(error: BaseException) -> BackendError:
            detail = str(error) or type(error).__name__
            return BackendError(f"{backend} failed in {operation}: {detail}", backend=backend, operation=operation)

        if inspect.isgeneratorfunction(function):

            @functools.wraps(function)
            def generator(*args: Any, **kwargs: Any) -> Any:
                try:
                    return (yield from function(*args, **kwargs))
                except kept:
                    raise
                except errors as error:
                    raise wrapped(error) from error

            return generator  # type: ignore[return-value]

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except kept:
                raise
            except errors as error:
                raise wrapped(error) from error

        return call  # type: ignore[return-value]

    return decorate


class ProviderError(LLMCacheError):
    def __init__(self, provider: str, message: str, status: int | None = None, request_id: str | None = None) -> None:
        detail = f"{provider}" + (f" HTTP {status}" if status is not None else "") + f": {message}"
        super().__init__(detail + (f" (request id {request_id})" if request_id else ""))
        self.provider = provider
        self.message = message
        self.status = status
        self.request_id = request_id


class RetryableProviderError(ProviderError):
    def __init__(
        self,
        provider: str,
        message: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, status, request_id)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    pass


class RateLimitWaitTooLongError(LLMCacheError):
    def __init__(self, bucket: str, wait_seconds: float, max_wait_seconds: float) -> None:
        super().__init__(f"rate limit {bucket}: would wait {wait_seconds:.1f}s, more than {max_wait_seconds:.1f}s")
        self.bucket = bucket
        self.wait_seconds = wait_seconds
