"""Builds the provider clients from settings, at start-up."""

from __future__ import annotations

import anthropic
import openai
import redis
from pydantic import SecretStr

from llmcache.shared.config import Settings
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.anthropic_provider import AnthropicProvider
from llmcache.shared.providers.base import CallPolicy, Provider
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.providers.ratelimit import SharedRateLimiter
from llmcache.shared.redis_keys import Keyspace


def _secret(value: SecretStr | None) -> str | None:
    """The key itself, read only here, where the SDK client is built."""
    return value.get_secret_value() if value is not None else None


def build_providers(settings: Settings, client: redis.Redis) -> dict[ProviderName, Provider]:
    """Sync SDK clients with their own retries off (`max_retries=0`): tenacity owns retries."""
    config = settings.providers
    pricing = PricingTable.load(config.pricing_file)
    limiter = SharedRateLimiter(client, Keyspace(settings.key_prefix), config.max_rate_limit_wait_seconds)
    openai_client = openai.OpenAI(
        api_key=_secret(config.openai_api_key) or "missing-openai-key",
        base_url=config.openai_base_url,
        max_retries=0,
        timeout=config.timeout_seconds,
    )
    anthropic_client = anthropic.Anthropic(
        api_key=_secret(config.anthropic_api_key) or "missing-anthropic-key",
        base_url=config.anthropic_base_url,
        max_retries=0,
        timeout=config.timeout_seconds,
    )
    return {
        "openai": OpenAIProvider(
            openai_client, CallPolicy(pricing, config.retry, limiter, config.limits_for("openai"))
        ),
        "anthropic": AnthropicProvider(
            anthropic_client, CallPolicy(pricing, config.retry, limiter, config.limits_for("anthropic"))
        ),
    }
