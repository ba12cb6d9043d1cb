"""The provider contract and what both SDK adapters share."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, runtime_checkable

from llmcache.shared.config import RateLimit, RetrySettings
from llmcache.shared.models import CacheRequest, Completion, ProviderName
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.providers.prompt_cache import PromptCacheTTL
from llmcache.shared.providers.ratelimit import SharedRateLimiter


@runtime_checkable
class Provider(Protocol):
    @property
    def name(self) -> ProviderName: ...

    def complete(self, request: CacheRequest, *, prompt_cache_ttl: PromptCacheTTL = "5m") -> Completion:
        """Call the provider (with retries and the shared rate limit) and return the answer with exact usage and
        cost. Raises RetryableProviderError once retries are exhausted, PermanentProviderError at once."""
        ...


@dataclass(frozen=True)
class CallPolicy:
    """What both SDK adapters share: pricing, retries and the rate limit every worker shares."""

    pricing: PricingTable
    retry: RetrySettings
    limiter: SharedRateLimiter | None = None
    limits: Mapping[str, RateLimit] = field(default_factory=dict)  # model (or "*") -> limit
    clock: Callable[[], float] = time.perf_counter

    def wait_for_capacity(self, provider: str, model: str, tokens: int) -> None:
        if self.limiter is None:
            return
        limit = self.limits.get(model) or self.limits.get("*")
        if limit is not None:
            self.limiter.acquire(provider, model, limit, tokens)


@cache
def _parameter_names(function: Callable[..., Any]) -> frozenset[str]:
    """Read once per SDK method (bound methods are new objects on every access: key on the function)."""
    return frozenset(inspect.signature(function).parameters)


def split_sdk_params(create: Callable[..., Any], params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parameters the SDK method knows go as keyword arguments; any other goes in `extra_body`, verbatim."""
    known = _parameter_names(getattr(create, "__func__", create))
    direct = {k: v for k, v in params.items() if k in known}
    extra = {k: v for k, v in params.items() if k not in known}
    return direct, extra


def max_output_tokens(params: Mapping[str, Any]) -> int:
    """The output budget a request reserves, for the token rate limit (0 when unset)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0
