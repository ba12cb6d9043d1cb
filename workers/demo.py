"""`llmcache demo`: the cache core on the embedded default (Redis + Qdrant Edge + local MiniLM).

Stores a small FAQ answer set for one tenant, then looks up repeats, paraphrases, another tenant's identical
questions and a prompt-version bump, and prints what each lookup returned. The answers are written into the cache
directly: no provider is called here.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from shared.config import Settings
from shared.models import CacheRequest, Completion, Miss, SemanticHit
from shared.runtime import build_runtime

SYSTEM = "You are the support assistant of Acme Cloud. Answer in two sentences."
FAQ = {
    "How do I reset my password?": "Open Settings > Security and choose Reset password; a link is e-mailed to you.",
    "How can I cancel my subscription?": "Go to Billing > Plan and press Cancel; access lasts to the period's end.",
    "Do you offer refunds on annual plans?": "Annual plans are refundable within 30 days of purchase.",
    "How do I add a team member?": "Open Team > Members, press Invite and enter their e-mail address.",
    "Where can I download my invoices?": "Invoices are under Billing > History as PDF files.",
    "Can I use the API without an API key?": "No: every API call needs a key from Settings > API keys.",
}
PROBES = [
    ("repeat", "acme", "How do I reset my password?"),
    ("paraphrase", "acme", "I forgot my password, how can I change it?"),
    ("paraphrase", "acme", "Where do I get my invoices?"),
    ("paraphrase", "acme", "How do I invite a colleague to my team?"),
    ("new question", "acme", "What regions do you host data in?"),
    ("other tenant", "globex", "How do I reset my password?"),
    ("other tenant", "globex", "I forgot my password, how can I change it?"),
]


@dataclass(frozen=True)
class _Row:
    label: str
    tenant: str
    question: str
    outcome: str
    detail: str
    ms: float


def _request(question: str, tenant: str) -> CacheRequest:
    return CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "system": SYSTEM,
            "messages": [{"role": "user", "content": question}],
            "params": {"temperature": 0},
            "namespace": "faq",
            "scope": {"tenant": tenant},
        }
    )


def run_demo(settings: Settings) -> int:
    shutil.rmtree(settings.edge_shard_path, ignore_errors=True)
    runtime = build_runtime(settings)
    cache = runtime.cache
    try:
        cache.invalidate("faq", "1")  # a clean slate for the demo's own key prefix
        for question, text in FAQ.items():
            miss = cache.lookup(_request(question, "acme"))
            completion = Completion(provider="openai", model="gpt-4o-mini", text=text, finish_reason="stop")
            cache.store(_request(question, "acme"), completion, miss=miss if isinstance(miss, Miss) else None)
        print(f"stored {len(FAQ)} FAQ answers for tenant 'acme' (demo answers, no provider called)\n")
        rows = [_probe(cache, label, tenant, question) for label, tenant, question in PROBES]
        result = cache.invalidate("faq", "2")
        print(f"prompt version of 'faq' bumped to 2: {result.entries_deleted} entries, {result.points_deleted} points")
        rows.append(_probe(cache, "after bump", "acme", "How do I reset my password?"))
        _print(rows)
        return 0
    finally:
        runtime.close()


def _probe(cache: object, label: str, tenant: str, question: str) -> _Row:
    from shared.cache import LLMCache

    assert isinstance(cache, LLMCache)
    started = time.perf_counter()
    result = cache.lookup(_request(question, tenant))
    elapsed = (time.perf_counter() - started) * 1000
    if isinstance(result, Miss):
        detail = result.reason
    else:
        detail = (result.entry.prompt_text or "")[:48]
        if isinstance(result, SemanticHit):
            detail = f"{result.similarity:.3f} ~ {detail}"
    return _Row(label, tenant, question, result.kind.value, detail, elapsed)


def _print(rows: list[_Row]) -> None:
    print(f"\n{'probe':<13} {'tenant':<7} {'question':<46} {'outcome':<9} {'ms':>6}  detail")
    for row in rows:
        print(f"{row.label:<13} {row.tenant:<7} {row.question[:46]:<46} {row.outcome:<9} {row.ms:>6.1f}  {row.detail}")
