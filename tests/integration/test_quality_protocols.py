"""`llmcache eval pairs --protocol`: pairwise lets each `b` meet only its own `a`; retrieval stores every `a`
together and reports a hit on another stored question apart, as unlabelled. Through the real cache core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.workers.cli import main

PAIRS = [
    ("How do I reset my password?", "How can I reset my password?", 1, "paraphrase"),
    # the own `a` is far away; the nearest stored question is the first pair's: a hit nobody labelled
    ("What is the weather like on Mars?", "How do I reset my password, please?", 0, "unrelated"),
    ("Can I pay by card?", "Can I pay by card?", 1, "identical"),
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


def _eval(pairs_file: Path, protocol: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    args = ["eval", "pairs", str(pairs_file), "--json", "--no-guard", "--threshold", "0.8", "--protocol", protocol]
    assert main(args) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_retrieval_reports_hits_on_another_question_apart(
    pairs_file: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _eval(pairs_file, "retrieval", capsys)
    assert report["protocol"] == "retrieval"
    assert (report["correct_hits"], report["false_hits"], report["unlabelled_hits"]) == (2, 0, 1)
    assert report["precision"] == pytest.approx(2 / 3) and report["precision_labelled"] == 1.0
    by_kind = report["by_kind"]
    assert isinstance(by_kind, dict) and by_kind["unrelated"]["unlabelled_hits"] == 1


def test_pairwise_lets_each_question_meet_only_its_own(
    pairs_file: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _eval(pairs_file, "pairwise", capsys)
    assert report["protocol"] == "pairwise"
    assert (report["correct_hits"], report["false_hits"], report["unlabelled_hits"]) == (2, 0, 0)
    assert report["precision"] == report["precision_labelled"] == 1.0 and report["recall"] == 1.0


def test_the_table_prints_both_precisions_and_every_kind(
    pairs_file: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "pairs", str(pairs_file), "--no-guard", "--threshold", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "labelled only" in out and "unlabelled hits 1" in out
    assert all(kind in out for kind in ("paraphrase", "unrelated", "identical"))
