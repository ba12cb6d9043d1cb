from __future__ import annotations

import pytest

from llmcache.shared.cacheability import judge
from llmcache.shared.models import Completion
from llmcache.shared.policy import NamespacePolicy


def completion(**changes: object) -> Completion:
    base: dict[str, object] = {"provider": "openai", "model": "gpt-4o-mini", "text": "Answer.", "finish_reason": "stop"}
    return Completion.model_validate({**base, **changes})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_error": True}, "provider-error"),
        ({"text": ""}, "empty-answer"),
        ({"text": "   "}, "empty-answer"),
        ({"text": None}, "empty-answer"),
        ({"finish_reason": "length"}, "truncated"),
        ({"provider": "anthropic", "finish_reason": "max_tokens"}, "truncated"),
        ({"finish_reason": "content_filter"}, "content-filtered"),
    ],
)
def test_answers_that_must_not_be_cached(changes: dict[str, object], reason: str) -> None:
    verdict = judge(completion(**changes), NamespacePolicy())
    assert (verdict.allowed, verdict.reason) == (False, reason)


def test_tool_calls_without_text_are_an_answer() -> None:
    assert judge(completion(text=None, tool_calls=[{"id": "c1", "type": "function"}]), NamespacePolicy()).allowed


def test_truncated_answers_are_kept_only_where_the_namespace_allows() -> None:
    assert judge(completion(finish_reason="length"), NamespacePolicy(cache_truncated=True)).allowed


def test_never_store_namespace_wins() -> None:
    assert judge(completion(), NamespacePolicy(never_store=True)).reason == "namespace-never-stores"
