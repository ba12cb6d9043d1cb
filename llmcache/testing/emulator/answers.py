"""Deterministic answers: from the answer book, or derived from a hash of the request."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from llmcache.shared.guard.judge import parse_judge_prompt
from llmcache.shared.providers.tokens import decode_tokens, encode_tokens
from llmcache.testing.emulator.config import EmulatorConfig

_WORDS = (  # noqa: SIM905 - prose reads better than a list of 36 quoted words
    "the account settings page lets you change this at any time and the change applies to every member of the "
    "workspace once saved you can also ask support to do it for you within one business day"
).split()


def normalise_question(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def answer_for(config: EmulatorConfig, last_user_text: str, request_material: Any) -> str:
    judged = parse_judge_prompt(last_user_text)
    if judged is not None:  # the guard's equivalence judge: yes when the book gives both questions one answer
        first, second = (config.answer_book.get(normalise_question(q)) for q in judged)
        same = first is not None and first == second
        return ("yes" if same else "no") + " (emulator: judged from its answer book)"
    booked = config.answer_book.get(normalise_question(last_user_text))
    if booked is not None:
        return booked
    digest = hashlib.sha256(json.dumps(request_material, sort_keys=True, default=str).encode()).digest()
    span = config.answer_tokens_max - config.answer_tokens_min + 1
    length = config.answer_tokens_min + digest[0] % span
    words = [_WORDS[(digest[i % len(digest)] + i) % len(_WORDS)] for i in range(length)]
    return f"Emulated answer {digest[:4].hex()}: " + " ".join(words) + "."


def truncate_to_tokens(text: str, max_tokens: int | None) -> tuple[str, int, bool]:
    """(text, its token count, whether it was cut at max_tokens)."""
    tokens = encode_tokens(text)
    if max_tokens is not None and len(tokens) > max_tokens:
        return decode_tokens(tokens[:max_tokens]), max_tokens, True
    return text, len(tokens), False
