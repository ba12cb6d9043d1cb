"""Quality smoke: the pairs protocol on ../shared/data/paraphrase_positives.jsonl at the default threshold,
through the real cache core (Redis + Qdrant Edge + MiniLM). Prints the report; guards against a collapse."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcache.quality.evaluation import evaluate_pairs, load_pairs
from llmcache.shared.runtime import CacheRuntime
from tests.conftest import SHARED_DATA, needs_shared_data

PARAPHRASES = SHARED_DATA / "paraphrase_positives.jsonl"


@needs_shared_data(PARAPHRASES.name)
@pytest.mark.parametrize("engine", ["edge"], indirect=True)
def test_paraphrase_hit_rate_at_the_default_threshold(
    runtime: CacheRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = load_pairs(PARAPHRASES)
    report = evaluate_pairs(runtime.cache, pairs)
    threshold = runtime.cache.policy("default").similarity_threshold
    with capsys.disabled():
        print(
            f"\n[quality smoke] paraphrase_positives n={report.n} threshold={threshold}: "
            f"hit rate (recall) {report.recall:.3f}, precision {report.precision:.3f}, "
            f"correct {report.correct_hits}, false {report.false_hits}, missed {report.misses}"
        )
    assert report.n == 999
    # measured 0.716 recall / 0.950 precision (floor 0.66, rules + verifier); 0.672 with the rules alone, which
    # refuse one-word rewordings the verifier may rescue (docs/quality.md). These floors catch a broken embedder,
    # index, guard or verifier model.
    assert report.recall >= 0.65
    assert report.precision >= 0.90


def test_bad_pairs_file_names_the_line(tmp_path: Path) -> None:
    from llmcache.shared.errors import InvalidRequestError

    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"a": "x", "b": "y", "label": 1}\n{"a": "x", "label": 1}\n')
    with pytest.raises(InvalidRequestError, match=r"pairs\.jsonl:2: b"):
        load_pairs(bad)
