"""The learned verifier inside the real cache (Redis, both Qdrant engines, MiniLM), and its training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmcache.quality.evaluation import Pair
from llmcache.quality.verifier_training import train_verifier
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.guard.features import feature_count
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.models import CacheRequest, Completion, Miss, SemanticHit
from llmcache.shared.policy import NamespacePolicy
from llmcache.shared.runtime import build_runtime
from tests.conftest import make_settings

STORED = "How can I lose weight quickly?"
REWORDED = "What are the quickest ways to lose weight?"  # rule-clean; the verifier scores it 0.87
ONE_WORD = "How can I lose weight safely?"  # one swapped word, a soft conflict; the verifier scores it 0.06

# the LightGBM verifier is the second stage where a namespace turns the pair model off
POLICIES = {
    "vetoall": NamespacePolicy(pair_model=False, verifier_veto_below=1.0),  # every rule-clean candidate vetoed
    "rulesonly": NamespacePolicy(pair_model=False, verifier=False),
    "rescueall": NamespacePolicy(pair_model=False, verifier_rescue_above=0.0),  # every soft conflict rescued
    "rescuenone": NamespacePolicy(pair_model=False, verifier_rescue_above=1.0),
}


def request(text: str, namespace: str) -> CacheRequest:
    fields: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": text}],
        "namespace": namespace,
        "scope": {"tenant": "acme"},
    }
    return CacheRequest.model_validate(fields)


@pytest.mark.parametrize(
    ("namespace", "query", "served"),
    [
        ("default", REWORDED, True),
        ("vetoall", REWORDED, False),
        ("rulesonly", REWORDED, True),
        ("rescueall", ONE_WORD, True),
        ("rescuenone", ONE_WORD, False),
        ("rulesonly", ONE_WORD, False),
        ("default", ONE_WORD, False),
    ],
)
def test_the_policy_thresholds_decide_in_the_lookup(
    engine: str, tmp_path: Path, redis_url: str, key_prefix: str, embedder: Embedder, namespace: str, query: str,
    served: bool,
) -> None:  # fmt: skip
    settings = make_settings(engine, tmp_path, redis_url, key_prefix, namespaces=POLICIES)
    runtime = build_runtime(settings, embedder=embedder)
    try:
        cache = runtime.cache
        stored = request(STORED, namespace)
        miss = cache.lookup(stored)
        assert isinstance(miss, Miss)
        answer = Completion(provider="openai", model="gpt-4o-mini", text="Eat less.", finish_reason="stop")
        cache.store(stored, answer, miss=miss)
        result = cache.lookup(request(query, namespace))
        assert isinstance(result, SemanticHit) is served, result
    finally:
        runtime.close()


def test_training_is_deterministic_and_yields_a_loadable_model(tmp_path: Path, embedder: Embedder) -> None:
    questions = [
        ("How do I learn {} fast?", "What is the quickest way to learn {}?", 1),
        ("How do I learn {} fast?", "Why is {} hard to learn?", 0),
        ("What is the best book on {}?", "Which book on {} do you recommend most?", 1),
        ("What is the best book on {}?", "Who wrote the first book on {}?", 0),
    ]
    topics = ["Python", "chess", "guitar", "French", "calculus", "painting", "Rust", "cooking"]
    pairs = [Pair(a=a.format(t), b=b.format(t), label=y) for t in topics for a, b, y in questions]
    first = train_verifier(pairs, embedder, tmp_path / "one", training_file="synthetic", rounds=20)
    second = train_verifier(pairs, embedder, tmp_path / "two", training_file="synthetic", rounds=20)
    assert first.model_sha256 == second.model_sha256
    assert (first.training_pairs, first.positives) == (32, 16)
    verifier = LearnedVerifier(tmp_path / "one")
    assert verifier.card == first
    assert verifier.score(np.zeros((1, feature_count(384)), np.float32)).shape == (1,)
