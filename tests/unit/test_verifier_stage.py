"""The guard's second stage: how a verifier score combines with the rules, and the shipped model's integrity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from llmcache.shared.guard.features import FEATURE_LAYOUT, LEXICAL_NAMES, feature_count, pair_features
from llmcache.shared.guard.learned import CARD_FILE, DATA_DIR, MODEL_FILE, LearnedVerifier, VerifierModelError
from llmcache.shared.guard.verifier import FalseHitGuard, Verdict, decide
from llmcache.shared.policy import VerifierThresholds

THRESHOLDS = VerifierThresholds(veto_below=0.2, rescue_above=0.9)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize(
    ("ruled", "score", "allowed"),
    [
        (Verdict(True, ()), 0.5, True),  # clean and plausible
        (Verdict(True, ()), 0.1, False),  # clean by the rules, but the verifier sees another question
        (Verdict(False, ("changed-specific",)), 0.95, True),  # one swapped word the verifier is sure about
        (Verdict(False, ("changed-specific",)), 0.6, False),
        (Verdict(False, ("number",)), 1.0, False),  # a hard conflict is never rescued
        (Verdict(False, ("changed-specific", "negation")), 1.0, False),
    ],
)
def test_decide_combines_rules_and_score(ruled: Verdict, score: float, allowed: bool) -> None:
    verdict = decide(ruled, score, THRESHOLDS)
    assert verdict.allowed is allowed
    if not ruled.hard_conflict:
        assert verdict.score == score
    if not allowed:
        assert verdict.reasons


def test_pair_features_layout() -> None:
    row = pair_features("How do I pay?", "How can I pay?", unit(1), unit(2), rules_allow=True)
    assert row.shape == (feature_count(384),) == (1 + 2 * 384 + len(LEXICAL_NAMES),)
    assert row[0] == pytest.approx(float(unit(1) @ unit(2)), abs=1e-6)
    np.testing.assert_allclose(row[1:385], unit(1) * unit(2), atol=1e-7)
    np.testing.assert_allclose(row[385:769], np.abs(unit(1) - unit(2)), atol=1e-7)


def test_shipped_model_loads_and_scores_probabilities() -> None:
    verifier = LearnedVerifier()
    assert verifier.card.feature_layout == FEATURE_LAYOUT
    assert verifier.card.training_file == "qqp_pairs_train.jsonl.gz"
    rows = np.vstack([pair_features("a b", "a c", unit(i), unit(i + 1), True) for i in range(5)])
    scores = verifier.score(rows)
    assert scores.shape == (5,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_without_vectors_or_thresholds_only_the_rules_decide() -> None:
    guard = FalseHitGuard(verifier=LearnedVerifier())
    clean = ("How can I pay my invoice?", "How do I pay an invoice?")
    assert guard.verify(*clean) == guard.rules.verify(*clean)
    assert guard.verify(*clean, query_vector=unit(1), cached_vector=None, thresholds=THRESHOLDS).score is None
    scored = guard.verify(*clean, query_vector=unit(1), cached_vector=unit(2), thresholds=THRESHOLDS)
    assert scored.score is not None
    # a hard conflict is decided before any scoring
    hard = guard.verify("Pay 2 invoices", "Pay 3 invoices", query_vector=unit(1), cached_vector=unit(1),
                        thresholds=THRESHOLDS)  # fmt: skip
    assert not hard.allowed and hard.score is None


def test_a_tampered_or_foreign_model_is_refused(tmp_path: Path) -> None:
    shutil.copy(DATA_DIR / CARD_FILE, tmp_path / CARD_FILE)
    raw = bytearray((DATA_DIR / MODEL_FILE).read_bytes())
    raw[-20] ^= 0xFF
    (tmp_path / MODEL_FILE).write_bytes(bytes(raw))
    with pytest.raises(VerifierModelError, match="checksum"):
        LearnedVerifier(tmp_path).score(np.zeros((1, feature_count(384)), np.float32))

    shutil.copy(DATA_DIR / MODEL_FILE, tmp_path / MODEL_FILE)
    card = (tmp_path / CARD_FILE).read_text().replace(FEATURE_LAYOUT, "some-other-layout")
    (tmp_path / CARD_FILE).write_text(card)
    with pytest.raises(VerifierModelError, match="retrain"):
        LearnedVerifier(tmp_path).card  # noqa: B018

    with pytest.raises(VerifierModelError, match="train verifier"):
        LearnedVerifier(tmp_path / "empty").card  # noqa: B018


class _OtherEmbedder:
    model_name = "text-embedding-3-small"
    dimension = 1536


class _MiniLMShape:
    model_name = "all-MiniLM-L6-v2"
    dimension = 384


def test_the_runtime_guard_keeps_the_verifier_only_where_it_applies() -> None:
    from llmcache.shared.config import Settings
    from llmcache.shared.policy import NamespacePolicy
    from llmcache.shared.runtime import build_guard

    settings = Settings()
    assert build_guard(settings, _MiniLMShape()).verifier is not None  # type: ignore[arg-type]
    # trained on MiniLM vectors: under another embedder its features mean nothing, so the rules decide alone
    assert build_guard(settings, _OtherEmbedder()).verifier is None  # type: ignore[arg-type]
    nobody = {name: NamespacePolicy(verifier=False) for name in settings.namespaces}
    assert build_guard(Settings(namespaces=nobody), _MiniLMShape()).verifier is None  # type: ignore[arg-type]


def test_the_pair_model_precision_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcache.shared.config import load_settings
    from llmcache.shared.errors import ConfigurationError
    from llmcache.shared.guard.pair_model import loaded_pair_model
    from llmcache.shared.runtime import build_guard

    assert build_guard(load_settings(), _MiniLMShape()).pair_model is loaded_pair_model()  # type: ignore[arg-type]
    monkeypatch.setenv("LLMCACHE_GUARD__PAIR_MODEL_PRECISION", "int8")
    guard = build_guard(load_settings(), _MiniLMShape())  # type: ignore[arg-type]
    assert guard.pair_model is loaded_pair_model(int8=True)
    monkeypatch.setenv("LLMCACHE_GUARD__PAIR_MODEL_PRECISION", "int4")
    with pytest.raises((ConfigurationError, ValueError), match="pair_model_precision"):
        load_settings()
