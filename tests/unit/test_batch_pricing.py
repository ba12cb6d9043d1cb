"""Batch API pricing as data: the discount per model, prompt-cache prices inside batches per provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.shared.models import Usage
from llmcache.shared.providers.pricing import PricingTable

USAGE = Usage(input_tokens=1_000, cache_read_tokens=4_000, cache_write_1h_tokens=500, output_tokens=200)


def test_shipped_terms_say_prompt_cache_prices_apply_in_batches_for_both_providers() -> None:
    table = PricingTable.load()
    assert table.batch_terms("openai").prompt_cache_discounts_apply
    assert table.batch_terms("anthropic").prompt_cache_discounts_apply
    for model in ("gpt-4o-mini", "claude-sonnet-4-5"):
        sync, batch = table.cost(model, USAGE), table.cost(model, USAGE, batch=True)
        assert batch.usd == pytest.approx(sync.usd * table.price(model).batch_discount)
        assert batch.usd_without_prompt_cache == pytest.approx(sync.usd_without_prompt_cache / 2)


def test_a_provider_whose_cache_prices_do_not_apply_in_batches_bills_cache_tokens_as_input(tmp_path: Path) -> None:
    raw = json.loads((Path(__file__).resolve().parents[2] / "shared" / "data" / "pricing.json").read_text())
    raw["batch"]["anthropic"]["prompt_cache_discounts_apply"] = False
    path = tmp_path / "pricing.json"
    path.write_text(json.dumps(raw))
    table = PricingTable.load(path)
    price = table.price("claude-sonnet-4-5")
    as_input = (USAGE.total_input_tokens * price.input + USAGE.output_tokens * price.output) / 1e6
    assert table.cost("claude-sonnet-4-5", USAGE, batch=True).usd == pytest.approx(as_input * price.batch_discount)
    assert table.cost("claude-sonnet-4-5", USAGE).usd < as_input  # synchronous calls keep the cache prices
