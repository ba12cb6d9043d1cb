"""The exception tree, in one place.

LLMCacheError                      root: catch this to catch everything llmcache raises
 +-- ConfigurationError            settings or namespace policy that cannot work
 +-- InvalidRequestError           a request that cannot be keyed (names the field)
 +-- BackendError                  Redis or the vector index failed; the message names which
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
