"""The self-written out-of-domain pairs in bench/data: well formed, as described in their README, and disjoint from
the dev files and from each other, so the holdout stays a holdout."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from llmcache.quality.evaluation import Pair, load_pairs
from tests.conftest import SHARED_DATA, needs_shared_data

BENCH_DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
KINDS_PER_DOMAIN = {
    "paraphrase": 11, "entity": 3, "number": 3, "negation": 3, "action": 3, "scope": 2, "time": 3, "followup": 2,
}  # fmt: skip


def _texts(pairs: list[Pair]) -> set[str]:
    return {text.strip().lower() for pair in pairs for text in (pair.a, pair.b)}


@pytest.mark.parametrize("name", ["ood_pairs_probe.jsonl", "ood_pairs_holdout.jsonl"])
def test_each_file_has_four_domains_of_thirty_pairs(name: str) -> None:
    pairs = load_pairs(BENCH_DATA / name)
    domains = Counter(getattr(pair, "domain", None) for pair in pairs)
    assert len(domains) == 4 and set(domains.values()) == {30}
    for domain in domains:
        kinds = Counter(pair.kind for pair in pairs if getattr(pair, "domain", None) == domain)
        assert kinds == KINDS_PER_DOMAIN, domain
    assert all(pair.label == (pair.kind == "paraphrase") for pair in pairs)


def test_probe_and_holdout_share_no_domain_and_no_text() -> None:
    probe = load_pairs(BENCH_DATA / "ood_pairs_probe.jsonl")
    holdout = load_pairs(BENCH_DATA / "ood_pairs_holdout.jsonl")
    assert not {getattr(p, "domain", None) for p in probe} & {getattr(p, "domain", None) for p in holdout}
    assert not _texts(probe) & _texts(holdout)


@needs_shared_data("faq_pairs_dev.jsonl")
def test_no_text_is_copied_from_the_dev_file() -> None:
    dev = _texts(load_pairs(SHARED_DATA / "faq_pairs_dev.jsonl"))
    for name in ("ood_pairs_probe.jsonl", "ood_pairs_holdout.jsonl"):
        assert not _texts(load_pairs(BENCH_DATA / name)) & dev, name
