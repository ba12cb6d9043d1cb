"""Anthropic Messages through the official SDK (sync client, SDK retries off), with cache_control breakpoints."""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.models import CacheRequest, Completion, ProviderName, Usage
from llmcache.shared.providers.base import CallPolicy, split_sdk_params
from llmcache.shared.providers.prompt_cache import AnthropicPrompt, PromptCacheTTL, plan_anthropic_breakpoints
from llmcache.shared.providers.retry import call_with_retries
from llmcache.shared.providers.sdk_errors import sdk_call
from llmcache.shared.providers.tokens import count_content_tokens


class AnthropicProvider:
    def __init__(self, client: anthropic.Anthropic, policy: CallPolicy) -> None:
        self._client = client
        self._policy = policy

    @property
    def name(self) -> ProviderName:
        return "anthropic"

    def plan(self, request: CacheRequest, prompt_cache_ttl: PromptCacheTTL) -> AnthropicPrompt:
        messages = []
        for index, message in enumerate(request.messages):
            if message.role not in ("user", "assistant"):
                raise InvalidRequestError(
                    f"messages[{index}].role",
                    f"Anthropic takes only user/assistant messages (got {message.role!r}); put instructions in system",
                )
            messages.append(message.model_dump(exclude_none=True, include={"role", "content"}))
        tools = request.params.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise InvalidRequestError("params.tools", "must be a list of tool definitions")
        return plan_anthropic_breakpoints(
            tools,
            request.system,
            messages,
            self._policy.pricing.price(request.model).min_cacheable_tokens,
            prompt_cache_ttl,
        )

    def build_kwargs(self, request: CacheRequest, prompt_cache_ttl: PromptCacheTTL = "5m") -> dict[str, Any]:
        if "max_tokens" not in request.params:
            raise InvalidRequestError("params.max_tokens", "is required by Anthropic's Messages API")
        prompt = self.plan(request, prompt_cache_ttl)
        params = {k: v for k, v in request.params.items() if k != "tools"}
        direct, extra = split_sdk_params(self._client.messages.create, params)
        kwargs: dict[str, Any] = {"model": request.model, "messages": prompt.messages, **direct}
        if prompt.system:
            kwargs["system"] = prompt.system
        if prompt.tools:
            kwargs["tools"] = prompt.tools
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, request: CacheRequest, *, prompt_cache_ttl: PromptCacheTTL = "5m") -> Completion:
        if request.provider != "anthropic":
            raise InvalidRequestError("provider", f"AnthropicProvider got a request for {request.provider!r}")
        kwargs = self.build_kwargs(request, prompt_cache_ttl)
        estimate = (
            count_content_tokens(kwargs.get("system"))
            + count_content_tokens(kwargs["messages"])
            + count_content_tokens(kwargs.get("tools"))
            + int(kwargs["max_tokens"])
        )
        started = self._policy.clock()
        response = call_with_retries(self._policy.retry, lambda: self._attempt(request.model, kwargs, estimate))
        return self._completion(request.model, response, prompt_cache_ttl, (self._policy.clock() - started) * 1000)

    def _attempt(self, model: str, kwargs: dict[str, Any], estimate: int) -> AnthropicMessage:
        self._policy.wait_for_capacity("anthropic", model, estimate)
        response: AnthropicMessage = sdk_call("anthropic", lambda: self._client.messages.create(**kwargs))
        return response

    def completion_from(
        self, model: str, response: AnthropicMessage, *, prompt_cache_ttl: PromptCacheTTL = "5m", batch: bool = False
    ) -> Completion:
        """A Messages response (a Message Batches `succeeded` result's message too) as a Completion, priced sync or
        batch."""
        return self._completion(model, response, prompt_cache_ttl, 0.0, batch=batch)

    def _completion(
        self, model: str, response: AnthropicMessage, ttl: PromptCacheTTL, latency_ms: float, batch: bool = False
    ) -> Completion:
        texts = [block.text for block in response.content if block.type == "text"]
        tool_calls = [block.model_dump(mode="json") for block in response.content if block.type == "tool_use"]
        usage = response.usage
        written = usage.cache_creation_input_tokens or 0
        if usage.cache_creation is not None:
            write_5m = usage.cache_creation.ephemeral_5m_input_tokens
            write_1h = usage.cache_creation.ephemeral_1h_input_tokens
        else:  # older responses report only the total: it was written with the TTL we asked for
            write_5m, write_1h = (written, 0) if ttl == "5m" else (0, written)
        normalised = Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_5m_tokens=write_5m,
            cache_write_1h_tokens=write_1h,
        )
        cost = self._policy.pricing.cost(model, normalised, batch=batch)
        return Completion(
            provider="anthropic",
            model=response.model or model,
            text="".join(texts) if texts else None,
            tool_calls=tool_calls,
            finish_reason=response.stop_reason,
            usage=normalised,
            cost_usd=cost.usd,
            cost_without_prompt_cache_usd=cost.usd_without_prompt_cache,
            provider_request_id=getattr(response, "_request_id", None),  # a batch result has none
            latency_ms=latency_ms,
            raw_response=response.model_dump(mode="json", exclude_unset=True),
        )
