"""Breakpoint placement, the OpenAI cache key, the linter, pricing and the KV estimator."""

from __future__ import annotations

from typing import Any

import pytest

from llmcache.quality.kv_estimate import PRESETS, ModelShape, kv_cache_bytes
from llmcache.shared.errors import ConfigurationError
from llmcache.shared.models import CacheRequest, Usage
from llmcache.shared.providers.lint import PromptLintReporter, lint_prefix_text, lint_request
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.providers.prompt_cache import MAX_BREAKPOINTS, openai_prompt_cache_key, plan_anthropic_breakpoints

LONG = " ".join(f"Rule {i}: be exact and cite the plan." for i in range(300))  # ~3k tokens
SHORT = "You are a support assistant."
TOOLS = [{"name": f"tool_{i}", "description": LONG[:2000], "input_schema": {"type": "object"}} for i in range(3)]


def breakpoints(prompt: Any) -> int:
    blocks = list(prompt.tools or []) + list(prompt.system or [])
    for message in prompt.messages:
        if isinstance(message["content"], list):
            blocks += message["content"]
    return sum("cache_control" in b for b in blocks)


def history(long_turn: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": long_turn},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "And the next question?"},
    ]


def test_no_breakpoint_below_the_minimum() -> None:
    prompt = plan_anthropic_breakpoints(None, SHORT, [{"role": "user", "content": "hi"}], 1024)
    assert prompt.breakpoints == ()
    assert breakpoints(prompt) == 0


def test_system_breakpoint_once_the_prefix_reaches_the_minimum() -> None:
    prompt = plan_anthropic_breakpoints(None, LONG, [{"role": "user", "content": "hi"}], 1024, ttl="1h")
    assert prompt.breakpoints == ("system",)
    assert prompt.system is not None
    assert prompt.system[-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert prompt.messages[-1]["content"] == "hi"  # the turn that changes is never marked


def test_minimum_counts_the_whole_prefix_in_order() -> None:
    # tools alone are below 4,096 but tools + system + history reach it: only the later points qualify
    prompt = plan_anthropic_breakpoints(TOOLS[:1], LONG, history(LONG), 4096)
    assert prompt.breakpoints == ("history",)
    prompt = plan_anthropic_breakpoints(TOOLS, LONG, history(LONG), 1024)
    assert prompt.breakpoints == ("tools", "system", "history")


def test_never_more_than_four_with_the_callers_own_breakpoints() -> None:
    marked = [{"type": "text", "text": f"pinned {i}", "cache_control": {"type": "ephemeral"}} for i in range(3)]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": marked},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "q"},
    ]
    prompt = plan_anthropic_breakpoints(TOOLS, LONG, messages, 1024)
    assert breakpoints(prompt) == MAX_BREAKPOINTS
    assert prompt.breakpoints == ("history",)  # one free slot: the longest prefix gets it
    full = [{"type": "text", "text": f"p{i}", "cache_control": {"type": "ephemeral"}} for i in range(4)]
    prompt = plan_anthropic_breakpoints(TOOLS, LONG, [{"role": "user", "content": full}], 1024)
    assert breakpoints(prompt) == MAX_BREAKPOINTS and prompt.breakpoints == ()


def test_planning_does_not_touch_the_callers_objects() -> None:
    tools = [dict(t) for t in TOOLS]
    plan_anthropic_breakpoints(tools, LONG, history(LONG), 1024)
    assert all("cache_control" not in t for t in tools)


def test_openai_cache_key_is_stable_for_a_shared_prefix() -> None:
    base = [{"role": "system", "content": LONG}, {"role": "user", "content": "a"}]
    other_question = [{"role": "system", "content": LONG}, {"role": "user", "content": "b"}]
    other_system = [{"role": "system", "content": SHORT}, {"role": "user", "content": "a"}]
    key = openai_prompt_cache_key("gpt-4o-mini", base, None)
    assert key == openai_prompt_cache_key("gpt-4o-mini", other_question, None)
    assert key != openai_prompt_cache_key("gpt-4o-mini", other_system, None)
    assert key != openai_prompt_cache_key("gpt-4.1", base, None)
    assert key != openai_prompt_cache_key("gpt-4o-mini", base, TOOLS)


@pytest.mark.parametrize(
    ("system", "code"),
    [
        ("You are helpful. Current time: 2026-11-26T10:15:00Z.", "iso-timestamp"),
        ("Today is November 26, 2026. Be brief.", "date"),
        ("Session id: 123e4567-e89b-12d3-a456-426614174000", "uuid"),
        ("The user is jane.doe@example.com.", "email"),
        ("Context generated at 1764150000.", "unix-timestamp"),
        ("trace_id=AbC123xyz789 follows", "request-id"),
    ],
)
def test_linter_flags_per_request_content(system: str, code: str) -> None:
    assert code in {f.code for f in lint_prefix_text(system)}


def test_linter_flags_a_static_part_placed_after_dynamic_content() -> None:
    findings = lint_prefix_text("Now: 2026-11-26T10:15:00Z. " + LONG)
    assert {"iso-timestamp", "dynamic-before-static"} <= {f.code for f in findings}
    assert "dynamic-before-static" not in {f.code for f in lint_prefix_text(LONG + " Now: 2026-11-26T10:15:00Z.")}


def test_static_prompt_is_clean_and_request_linting_covers_tools() -> None:
    assert lint_prefix_text(LONG) == []
    request = CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Time: 10:15 UTC"}, {"role": "user", "content": "hi"}],
            "params": {"tools": [{"name": "t", "description": "Valid until 2026-12-01"}]},
        }
    )
    assert {(f.where, f.code) for f in lint_request(request)} == {("messages[0]", "time"), ("tools", "date")}
    reporter = PromptLintReporter()
    assert reporter.check(request) and reporter.check(request) == []  # once per namespace per process


def test_pricing_prefix_match_cost_and_unknown_model() -> None:
    pricing = PricingTable.load()
    assert pricing.price("claude-sonnet-4-5-20250929") == pricing.price("claude-sonnet-4-5")
    usage = Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000, cache_write_1h_tokens=1_000_000, output_tokens=0)
    cost = pricing.cost("claude-sonnet-4-5", usage)
    assert cost.usd == pytest.approx(3.00 + 0.30 + 6.00)
    assert cost.usd_without_prompt_cache == pytest.approx(9.00)
    assert pricing.cost("claude-sonnet-4-5", usage, batch=True).usd == pytest.approx((3.00 + 0.30 + 6.00) / 2)
    with pytest.raises(ConfigurationError, match="not in the pricing table"):
        pricing.price("no-such-model")


def test_kv_estimate_uses_kv_heads_under_grouped_query_attention() -> None:
    llama3 = PRESETS["llama-3-8b"]
    assert kv_cache_bytes(llama3, seq_len=8192) == 2 * 32 * 8 * 128 * 8192 * 2  # 1 GiB
    as_if_mha = ModelShape(layers=32, attention_heads=32, hidden_size=4096)
    assert kv_cache_bytes(as_if_mha, seq_len=8192) == 4 * kv_cache_bytes(llama3, seq_len=8192)
    assert kv_cache_bytes(llama3, seq_len=1024, batch=4, dtype="fp8") == 2 * 32 * 8 * 128 * 1024 * 4
    with pytest.raises(ValueError, match="dtype"):
        kv_cache_bytes(llama3, 10, dtype="fp7")
