"""Prompt caching done for the user.

Anthropic: `cache_control` breakpoints in prefix order tools -> system -> stable conversation history (everything
before the last user turn), at most 4 in a request (breakpoints the caller set count too), and only where the
cached prefix reaches the model's minimum cacheable length; below it a breakpoint caches nothing.
OpenAI: caching is automatic from 1,024 tokens; a stable `prompt_cache_key` derived from the static prefix
(model, system/developer messages, tools) routes requests that share it to the same cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from llmcache.shared.providers.tokens import count_content_tokens

MAX_BREAKPOINTS = 4
PromptCacheTTL = Literal["5m", "1h"]


def cache_control(ttl: PromptCacheTTL) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": ttl}


@dataclass(frozen=True)
class AnthropicPrompt:
    """The parts of a Messages request that form the cacheable prefix, as the SDK takes them."""

    tools: list[dict[str, Any]] | None
    system: list[dict[str, Any]] | None
    messages: list[dict[str, Any]]
    breakpoints: tuple[str, ...] = ()  # where breakpoints were added: "tools", "system", "history"


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(block) for block in content]


def _count_existing(
    tools: list[dict[str, Any]] | None, system: list[dict[str, Any]] | None, messages: list[Any]
) -> int:
    blocks: list[Any] = list(tools or []) + list(system or [])
    for message in messages:
        if isinstance(message.get("content"), list):
            blocks.extend(message["content"])
    return sum(1 for b in blocks if isinstance(b, dict) and "cache_control" in b)


def _last_user_index(messages: list[dict[str, Any]]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def plan_anthropic_breakpoints(
    tools: Any,
    system: str | list[dict[str, Any]] | None,
    messages: list[dict[str, Any]],
    min_cacheable_tokens: int,
    ttl: PromptCacheTTL = "5m",
) -> AnthropicPrompt:
    tools_out = copy.deepcopy(tools) if tools else None
    system_out = _as_blocks(system) if system else None
    messages_out = copy.deepcopy(messages)
    free = MAX_BREAKPOINTS - _count_existing(tools_out, system_out, messages_out)

    # (label, cumulative prefix tokens, the block that would carry the breakpoint)
    candidates: list[tuple[str, int, dict[str, Any]]] = []
    prefix = 0
    if tools_out:
        prefix += count_content_tokens(tools_out)
        candidates.append(("tools", prefix, tools_out[-1]))
    if system_out:
        prefix += count_content_tokens(system_out)
        candidates.append(("system", prefix, system_out[-1]))
    last_user = _last_user_index(messages_out)
    if last_user:  # history = every message before the last user turn
        for message in messages_out[:last_user]:
            message["content"] = _as_blocks(message.get("content") or "")
            prefix += count_content_tokens(message["content"])
        history_tail = messages_out[last_user - 1]["content"]
        if history_tail:
            candidates.append(("history", prefix, history_tail[-1]))

    eligible = [c for c in candidates if c[1] >= min_cacheable_tokens and "cache_control" not in c[2]]
    # with fewer free slots than candidates, the longest prefixes pay off most
    chosen = eligible[-free:] if free > 0 else []
    for _, _, block in chosen:
        block["cache_control"] = cache_control(ttl)
    return AnthropicPrompt(tools_out, system_out, messages_out, tuple(label for label, _, _ in chosen))


def openai_prompt_cache_key(model: str, messages: list[dict[str, Any]], tools: Any) -> str:
    """Stable for requests that share model, leading system/developer messages and tools."""
    static: list[Any] = []
    for message in messages:
        if message.get("role") not in ("system", "developer"):
            break
        static.append(message.get("content"))
    material = json.dumps({"model": model, "static": static, "tools": tools or []}, sort_keys=True, ensure_ascii=False)
    return "llmc-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
