"""Which answers may be stored: never errors, empty or cut-off answers, nor anything in a never-store namespace."""

from __future__ import annotations

from dataclasses import dataclass

from llmcache.shared.models import Completion
from llmcache.shared.policy import NamespacePolicy

TRUNCATED_REASONS = frozenset({"length", "max_tokens", "model_context_window_exceeded"})
FILTERED_REASONS = frozenset({"content_filter"})


@dataclass(frozen=True)
class Cacheability:
    allowed: bool
    reason: str


def judge(completion: Completion, policy: NamespacePolicy) -> Cacheability:
    if policy.never_store:
        return Cacheability(False, "namespace-never-stores")
    if completion.is_error:
        return Cacheability(False, "provider-error")
    if not (completion.text and completion.text.strip()) and not completion.tool_calls:
        return Cacheability(False, "empty-answer")
    if completion.finish_reason in FILTERED_REASONS:
        return Cacheability(False, "content-filtered")
    if completion.finish_reason in TRUNCATED_REASONS and not policy.cache_truncated:
        return Cacheability(False, "truncated")
    return Cacheability(True, "stored")
