"""The exception tree, in one place.

LLMCacheError                      root: catch this to catch everything llmcache raises
 +-- ConfigurationError            settings or namespace policy that cannot work
 +-- InvalidRequestError           a request that cannot be keyed (names the field)
 +-- BackendError                  Redis or the vector index failed; the message names which
 +-- ProviderError                 OpenAI or Anthropic did not answer; carries provider, status, request id
      +-- RetryableProviderError   408, 409, 429, 5xx, 529, timeouts, connection errors (retried, then raised)
      +-- PermanentProviderError   400, 401, 403, 404, 413, 422, ... : never retried, the provider's message kept
 +-- RateLimitWaitTooLongError          the shared rate limit would make a caller wait longer than it allows
"""


class LLMCacheError(Exception):
    """Root of every error llmcache raises."""


class ConfigurationError(LLMCacheError):
    pass


class InvalidRequestError(LLMCacheError, ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class BackendError(LLMCacheError):
    pass


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
