"""Worked example: the cost of an uncached versus a prompt-cached call for each provider, through the real SDKs
against the provider emulator (exact usage fields, pricing from shared/data/pricing.json)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, quiet_logging, write_section
from llmcache.shared.config import load_settings
from llmcache.shared.models import CacheRequest, ProviderName
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.prompt_cache import PromptCacheTTL
from llmcache.testing.emulator.server import RunningEmulator

SYSTEM = " ".join(
    f"Support policy clause {i}: answer precisely, cite the plan, never guess prices." for i in range(330)
)
CASES: list[tuple[ProviderName, str, PromptCacheTTL]] = [
    ("openai", "gpt-4o-mini", "5m"),
    ("openai", "gpt-4.1", "5m"),
    ("anthropic", "claude-haiku-4-5", "5m"),
    ("anthropic", "claude-sonnet-4-5", "1h"),
]


def main() -> None:
    quiet_logging()
    rows = []
    with RunningEmulator() as emulator:
        settings = load_settings(
            key_prefix=f"bench-cost-{uuid.uuid4().hex[:6]}",
            providers={
                "openai_api_key": "emulator",
                "openai_base_url": emulator.openai_base_url,
                "anthropic_api_key": "emulator",
                "anthropic_base_url": emulator.anthropic_base_url,
            },
        )
        providers = build_providers(settings, redis.Redis.from_url(settings.redis_url))
        for provider, model, ttl in CASES:
            for call, question in (
                ("1st (writes)", "How do I reset my password?"),
                ("2nd (reads)", "How do I add a seat?"),
            ):
                request = CacheRequest.model_validate(
                    {
                        "provider": provider,
                        "model": model,
                        "system": SYSTEM,
                        "messages": [{"role": "user", "content": question}],
                        "params": {"max_tokens": 200},
                    }
                )
                done = providers[provider].complete(request, prompt_cache_ttl=ttl)
                u = done.usage
                written = u.cache_write_5m_tokens + u.cache_write_1h_tokens
                shown_ttl = ttl if provider == "anthropic" else "auto"
                cells = [provider, model, call, shown_ttl, f"{u.input_tokens:,}", f"{u.cache_read_tokens:,}"]
                cells += [f"{written:,}", str(u.output_tokens), f"${done.cost_usd:.6f}"]
                cells.append(f"${done.cost_without_prompt_cache_usd:.6f}")
                rows.append("| " + " | ".join(cells) + " |")
    body = "\n".join(
        [
            "## Prompt-cache cost, worked example (`bench/prompt_cache_cost.py`)",
            "",
            f"Measured {machine_line()}, against the provider emulator (not a real provider): the same ~5.6k-token",
            "system prompt twice per model with different questions. Costs from the exact usage fields and",
            '`shared/data/pricing.json`; "without prompt cache" prices every input token at the base rate.',
            "",
            "| provider | model | call | TTL | input | cache read | cache write | output | cost "
            "| without prompt cache |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(body)
    write_section("prompt-cache-cost", body)


if __name__ == "__main__":
    main()
