"""The real OpenAI and Anthropic SDKs against the provider emulator (the only stand-in: no network reaches the
providers). Prompt caching, exact usage and cost, retries, permanent errors."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from llmcache.shared.errors import PermanentProviderError, RetryableProviderError
from llmcache.shared.models import CacheRequest, Completion
from llmcache.shared.providers.base import Provider
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.providers.prompt_cache import PromptCacheTTL
from llmcache.shared.providers.tokens import count_tokens
from llmcache.testing.emulator.server import RunningEmulator
from tests.conftest import emulator_settings

# ~4.4k tokens for OpenAI (above 1,024), ~5k for Anthropic's Haiku 4.5 (minimum 4,096)
LONG_SYSTEM = " ".join(
    f"Support policy clause {i}: answer precisely, cite the plan, never guess prices." for i in range(330)
)
PRICING = PricingTable.load()


@pytest.fixture
def providers(emulator: RunningEmulator, redis_url: str, key_prefix: str) -> dict[str, Provider]:
    client = redis.Redis.from_url(redis_url)
    return {name: p for name, p in build_providers(emulator_settings(emulator, redis_url, key_prefix), client).items()}


def request(provider: str, model: str, text: str = "How do I reset my password?", **changes: Any) -> CacheRequest:
    fields: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "system": LONG_SYSTEM,
        "messages": [{"role": "user", "content": text}],
        "params": {"max_tokens": 200, "temperature": 0},
    }
    fields.update(changes)
    return CacheRequest.model_validate(fields)


def expected_cost(model: str, completion: Completion) -> float:
    price = PRICING.price(model)
    u = completion.usage
    return (
        u.input_tokens * price.input
        + u.cache_read_tokens * price.cached_input
        + u.cache_write_5m_tokens * price.cache_write_5m
        + u.cache_write_1h_tokens * price.cache_write_1h
        + u.output_tokens * price.output
    ) / 1_000_000


def test_openai_long_system_prompt_is_written_then_read(providers: dict[str, Provider]) -> None:
    assert count_tokens(LONG_SYSTEM) > 4000
    first = providers["openai"].complete(request("openai", "gpt-4o-mini"))
    second = providers["openai"].complete(request("openai", "gpt-4o-mini", "How can I change my e-mail?"))
    assert first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens >= 4000
    assert (second.usage.cache_read_tokens - 1024) % 128 == 0  # 1,024 tokens, then 128-token steps
    assert second.usage.input_tokens < 200  # only the new question is billed at the full rate
    for completion in (first, second):
        assert completion.cost_usd == pytest.approx(expected_cost("gpt-4o-mini", completion), rel=1e-12)
        assert completion.provider_request_id and completion.provider_request_id.startswith("req_")
        assert completion.text and completion.finish_reason == "stop"
    assert second.cost_usd < first.cost_usd
    assert second.cost_without_prompt_cache_usd > second.cost_usd
    assert first.cost_without_prompt_cache_usd == pytest.approx(first.cost_usd)


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_anthropic_breakpoint_is_written_then_read(providers: dict[str, Provider], ttl: PromptCacheTTL) -> None:
    model = "claude-haiku-4-5"
    first = providers["anthropic"].complete(request("anthropic", model), prompt_cache_ttl=ttl)
    second = providers["anthropic"].complete(
        request("anthropic", model, "How can I change my e-mail?"), prompt_cache_ttl=ttl
    )
    written = first.usage.cache_write_5m_tokens if ttl == "5m" else first.usage.cache_write_1h_tokens
    other_ttl = first.usage.cache_write_1h_tokens if ttl == "5m" else first.usage.cache_write_5m_tokens
    assert written >= PRICING.price(model).min_cacheable_tokens and other_ttl == 0
    assert first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == written
    assert second.usage.cache_write_5m_tokens == second.usage.cache_write_1h_tokens == 0
    for completion in (first, second):
        assert completion.cost_usd == pytest.approx(expected_cost(model, completion), rel=1e-12)
    assert first.cost_usd > first.cost_without_prompt_cache_usd  # a cache write costs more than plain input
    assert second.cost_usd < second.cost_without_prompt_cache_usd / 3


def test_anthropic_prefix_below_the_minimum_gets_no_breakpoint(
    providers: dict[str, Provider], emulator: RunningEmulator
) -> None:
    short = request("anthropic", "claude-haiku-4-5", system="You are Acme's support assistant.")
    first = providers["anthropic"].complete(short)
    second = providers["anthropic"].complete(short)
    assert first.usage.cache_write_5m_tokens == second.usage.cache_read_tokens == 0
    assert emulator.stats()["by_model"]["claude-haiku-4-5"]["calls"] == 2


def test_429_with_retry_after_is_retried_and_succeeds(
    providers: dict[str, Provider], emulator: RunningEmulator
) -> None:
    faulty = {"x-emulator-fault": "429", "x-emulator-fault-times": "2", "x-emulator-retry-after": "0.1"}
    completion = providers["openai"].complete(
        request("openai", "gpt-4o-mini", params={"max_tokens": 50, "extra_headers": faulty})
    )
    assert completion.text
    stats = emulator.stats()
    assert stats["faults"] == {"429": 2}
    assert stats["by_model"]["gpt-4o-mini"]["calls"] == 1


def test_529_overloaded_and_malformed_bodies_are_retried(
    providers: dict[str, Provider], emulator: RunningEmulator
) -> None:
    overloaded = {"x-emulator-fault": "529", "x-emulator-fault-times": "1"}
    assert (
        providers["anthropic"]
        .complete(request("anthropic", "claude-haiku-4-5", params={"max_tokens": 50, "extra_headers": overloaded}))
        .text
    )
    malformed = {"x-emulator-fault": "malformed", "x-emulator-fault-times": "1"}
    assert (
        providers["openai"]
        .complete(request("openai", "gpt-4o-mini", params={"max_tokens": 50, "extra_headers": malformed}))
        .text
    )
    assert emulator.stats()["faults"] == {"529": 1, "malformed": 1}


def test_timeouts_are_retried(emulator: RunningEmulator, redis_url: str, key_prefix: str) -> None:
    settings = emulator_settings(emulator, redis_url, key_prefix, timeout_seconds=0.5)
    provider = build_providers(settings, redis.Redis.from_url(redis_url))["openai"]
    hang_once = {"x-emulator-fault": "timeout", "x-emulator-fault-times": "1"}
    assert provider.complete(
        request("openai", "gpt-4o-mini", params={"max_tokens": 20, "extra_headers": hang_once})
    ).text
    assert emulator.stats()["faults"] == {"timeout": 1}


def test_retry_after_is_read_from_the_response(emulator: RunningEmulator, redis_url: str, key_prefix: str) -> None:
    settings = emulator_settings(emulator, redis_url, key_prefix, retry={"max_attempts": 1})
    provider = build_providers(settings, redis.Redis.from_url(redis_url))["openai"]
    always = {"x-emulator-fault": "429", "x-emulator-retry-after": "7"}
    with pytest.raises(RetryableProviderError) as caught:
        provider.complete(request("openai", "gpt-4o-mini", params={"max_tokens": 5, "extra_headers": always}))
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(7.0)


def test_400_is_not_retried_and_surfaces_the_message(providers: dict[str, Provider], emulator: RunningEmulator) -> None:
    five_breakpoints = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    with pytest.raises(PermanentProviderError) as caught:
        providers["anthropic"].complete(
            request("anthropic", "claude-haiku-4-5", messages=[{"role": "user", "content": five_breakpoints}])
        )
    assert caught.value.status == 400
    assert "A maximum of 4 blocks with cache_control may be provided. Found 5." in str(caught.value)
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert emulator.stats()["rejected"] == 1  # one attempt only


def test_openai_embedder_through_the_sdk(emulator: RunningEmulator) -> None:
    import numpy as np
    import openai

    from llmcache.shared.embedding.openai_embedder import OpenAIEmbedder

    client = openai.OpenAI(api_key="emulator-key", base_url=emulator.openai_base_url, max_retries=0)
    embedder = OpenAIEmbedder(client, "text-embedding-3-small", dimensions=256)
    batch = embedder.embed_batch(["first text", "second text"])
    assert batch.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embedder.embed("second text"), batch[1], atol=1e-6)
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["second text"], dimensions=256, encoding_format="float"
    )
    np.testing.assert_allclose(np.asarray(floats.data[0].embedding), batch[1], atol=1e-6)
