"""`llmcache eval pairs` and `llmcache tune pairs` on a small labelled file, through the real cache core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.workers.cli import main

PAIRS = [
    ("How do I reset my password?", "I forgot my password, how can I change it?", 1, "paraphrase"),
    ("How do I cancel my subscription?", "What are the steps to end my subscription?", 1, "paraphrase"),
    ("Where can I download my invoices?", "How can I get copies of my past invoices?", 1, "paraphrase"),
    ("Can I call the API with a key?", "Can I call the API without a key?", 0, "negation"),
    ("How do I upgrade my plan?", "How do I downgrade my plan?", 0, "action"),
    ("Is the Gold plan refundable?", "Is the Silver plan refundable?", 0, "entity"),
    ("Can I get a refund within 30 days?", "Can I get a refund within 60 days?", 0, "number"),
    ("How much is the plan billed monthly?", "How much is the plan billed yearly?", 0, "time"),
]


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"a": a, "b": b, "label": y, "kind": k}) + "\n" for a, b, y, k in PAIRS))
    return path


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMCACHE_REDIS_URL", redis_url)
    monkeypatch.setenv("LLMCACHE_KEY_PREFIX", key_prefix)
    monkeypatch.setenv("LLMCACHE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QDRANT_URL", raising=False)


def test_eval_pairs_json_with_and_without_the_guard(
    pairs_file: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "pairs", str(pairs_file), "--json"]) == 0
    guarded = json.loads(capsys.readouterr().out)
    assert guarded["n"] == 8 and guarded["positives"] == 3
    assert guarded["false_hits"] == 0 and guarded["precision"] == 1.0  # every changed specific is caught
    assert guarded["recall"] >= 2 / 3
    assert main(["eval", "pairs", str(pairs_file), "--json", "--no-guard", "--threshold", "0.66"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["false_hits"] >= 4  # cosine alone serves the negation, action, entity, number and time swaps
    assert plain["guard"] is False and plain["verifier"] is False
    assert main(["eval", "pairs", str(pairs_file), "--json", "--no-verifier"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert rules["verifier"] is False and rules["false_hits"] == 0
    assert {"precision", "recall"} <= plain.keys()


def test_eval_pairs_table_and_bad_file(pairs_file: Path, cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "pairs", str(pairs_file)]) == 0
    out = capsys.readouterr().out
    assert "precision 1.000" in out and "negation" in out and "us per candidate" in out
    bad = pairs_file.with_name("bad.jsonl")
    bad.write_text('{"a": "x", "b": "y", "label": 1}\n{"a": "x", "label": 0}\n')
    assert main(["eval", "pairs", str(bad)]) == 2
    assert "bad.jsonl:2: b" in capsys.readouterr().err
    assert main(["eval", "pairs", str(pairs_file.with_name("missing.jsonl"))]) == 2


def test_tune_pairs_recommends_plots_and_writes_the_policy(
    pairs_file: Path, cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "curve.png"
    assert main(["tune", "pairs", str(pairs_file), "--namespace", "faq", "--plot", str(plot), "--write"]) == 0
    out = capsys.readouterr().out
    assert "recommended: guard on, floor" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((tmp_path / "data" / "policies.json").read_text())["faq"]
    assert written["guard"] is True and 0.5 <= written["similarity_threshold"] <= 0.99
    from llmcache.shared.config import load_settings

    policy = load_settings().policy("faq")
    assert policy.similarity_threshold == written["similarity_threshold"]
    # the sweep picks whichever second stage reaches the target with more recall: the pair model or the verifier;
    # what it wrote is that stage's thresholds, and the policy reads them back
    if written["pair_model"]:
        assert "pair model from" in out and "soft conflicts from" in out
        assert 0.0 <= written["pair_accept_above"] <= 1.0 and 0.0 <= written["pair_rescue_above"] <= 1.0
        assert (policy.pair_model, policy.pair_accept_above, policy.pair_rescue_above) == (
            True, written["pair_accept_above"], written["pair_rescue_above"]
        )  # fmt: skip
    else:
        assert "rescue from" in out
        assert written["verifier"] is True and 0.0 <= written["verifier_veto_below"] <= 0.5
        assert 0.6 <= written["verifier_rescue_above"] <= 1.0
        assert policy.verifier_veto_below == written["verifier_veto_below"]
        assert policy.verifier_rescue_above == written["verifier_rescue_above"]


def test_train_verifier_writes_a_model_the_guard_loads(
    pairs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmcache.shared.guard.learned import LearnedVerifier

    out = tmp_path / "model"
    assert main(["train", "verifier", str(pairs_file), "--out", str(out), "--rounds", "5"]) == 0
    assert "trained on 8 pairs (3 positives), 5 rounds" in capsys.readouterr().out
    assert LearnedVerifier(out).card.training_file == "pairs.jsonl"
    one_label = tmp_path / "one.jsonl"
    one_label.write_text('{"a": "x", "b": "y", "label": 1}\n')
    assert main(["train", "verifier", str(one_label), "--out", str(out)]) == 2
    assert "both labels" in capsys.readouterr().err
