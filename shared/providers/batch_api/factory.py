"""Builds the Batch API clients from settings (SDK clients with their own retries off: tenacity owns retries)."""

from __future__ import annotations

import anthropic
import openai
from pydantic import SecretStr

from llmcache.shared.config import Settings
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.anthropic_provider import AnthropicProvider
from llmcache.shared.providers.base import CallPolicy
from llmcache.shared.providers.batch_api.anthropic_batches import AnthropicBatchClient
from llmcache.shared.providers.batch_api.base import BatchAPIClient
from llmcache.shared.providers.batch_api.openai_batches import OpenAIBatchClient
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.pricing import PricingTable


def _key(value: SecretStr | str | None, fallback: str) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value() or fallback
    return value or fallback


def build_batch_clients(settings: Settings) -> dict[ProviderName, BatchAPIClient]:
    config = settings.providers
    pricing = PricingTable.load(config.pricing_file)
    policy = CallPolicy(pricing, config.retry)
    openai_client = openai.OpenAI(
        api_key=_key(config.openai_api_key, "missing-openai-key"),
        base_url=config.openai_base_url,
        max_retries=0,
        timeout=config.timeout_seconds,
    )
    anthropic_client = anthropic.Anthropic(
        api_key=_key(config.anthropic_api_key, "missing-anthropic-key"),
        base_url=config.anthropic_base_url,
        max_retries=0,
        timeout=config.timeout_seconds,
    )
    return {
        "openai": OpenAIBatchClient(openai_client, OpenAIProvider(openai_client, policy), config.retry),
        "anthropic": AnthropicBatchClient(anthropic_client, AnthropicProvider(anthropic_client, policy), config.retry),
    }
