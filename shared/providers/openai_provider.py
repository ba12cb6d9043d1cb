"""OpenAI Chat Completions through the official SDK (sync client, SDK retries off)."""

from __future__ import annotations

from typing import Any

import openai
import structlog
from openai.types.chat import ChatCompletion

from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.models import CacheRequest, Completion, ProviderName, Usage
from llmcache.shared.providers.base import CallPolicy, max_output_tokens, split_sdk_params
from llmcache.shared.providers.prompt_cache import PromptCacheTTL, openai_prompt_cache_key
from llmcache.shared.providers.retry import call_with_retries
from llmcache.shared.providers.sdk_errors import sdk_call
from llmcache.shared.providers.tokens import count_content_tokens

log = structlog.get_logger("llmcache.providers.openai")


class OpenAIProvider:
    def __init__(self, client: openai.OpenAI, policy: CallPolicy) -> None:
        self._client = client
        self._policy = policy

    @property
    def name(self) -> ProviderName:
        return "openai"

    def build_kwargs(self, request: CacheRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages += [m.model_dump(exclude_none=True) for m in request.messages]
        params = dict(request.params)
        tools = params.get("tools")
        if "prompt_cache_key" not in params:
            params["prompt_cache_key"] = openai_prompt_cache_key(request.model, messages, tools)
        direct, extra = split_sdk_params(self._client.chat.completions.create, params)
        kwargs: dict[str, Any] = {"model": request.model, "messages": messages, **direct}
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, request: CacheRequest, *, prompt_cache_ttl: PromptCacheTTL = "5m") -> Completion:
        if request.provider != "openai":
            raise InvalidRequestError("provider", f"OpenAIProvider got a request for {request.provider!r}")
        self._policy.pricing.price(request.model)  # unknown model: fail before spending anything unaccounted
        kwargs = self.build_kwargs(request)
        estimate = count_content_tokens(kwargs["messages"]) + max_output_tokens(request.params)
        started = self._policy.clock()
        response = call_with_retries(self._policy.retry, lambda: self._attempt(request.model, kwargs, estimate))
        return self._completion(request.model, response, (self._policy.clock() - started) * 1000)

    def _attempt(self, model: str, kwargs: dict[str, Any], estimate: int) -> ChatCompletion:
        self._policy.wait_for_capacity("openai", model, estimate)
        response: ChatCompletion = sdk_call("openai", lambda: self._client.chat.completions.create(**kwargs))
        return response

    def completion_from(self, model: str, response: ChatCompletion, *, batch: bool = False) -> Completion:
        """A Chat Completions response (a Batch API result line's body too) as a Completion, priced sync or batch."""
        return self._completion(model, response, 0.0, batch=batch)

    def _completion(self, model: str, response: ChatCompletion, latency_ms: float, batch: bool = False) -> Completion:
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice is not None else None
        usage = response.usage
        cached = 0
        written = 0
        if usage is not None and usage.prompt_tokens_details is not None:
            cached = usage.prompt_tokens_details.cached_tokens or 0
            written = usage.prompt_tokens_details.cache_write_tokens or 0
        prompt_tokens = usage.prompt_tokens if usage is not None else 0
        normalised = Usage(
            input_tokens=max(prompt_tokens - cached - written, 0),
            output_tokens=usage.completion_tokens if usage is not None else 0,
            cache_read_tokens=cached,
            cache_write_5m_tokens=written,
        )
        cost = self._policy.pricing.cost(model, normalised, batch=batch)
        return Completion(
            provider="openai",
            model=response.model or model,
            text=message.content if message is not None else None,
            tool_calls=[call.model_dump(mode="json") for call in (message.tool_calls or [])] if message else [],
            finish_reason=choice.finish_reason if choice is not None else None,
            usage=normalised,
            cost_usd=cost.usd,
            cost_without_prompt_cache_usd=cost.usd_without_prompt_cache,
            provider_request_id=response._request_id,
            latency_ms=latency_ms,
            raw_response=response.model_dump(mode="json", exclude_unset=True),
        )
