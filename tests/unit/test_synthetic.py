"""The synthetic pair generator: seeded, compositional, and with a held-out split training never sees."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from llmcache.quality.synthetic_pairs import DOMAINS, FRAMES, HELD_OUT_DOMAINS, HELD_OUT_FRAMES, generate, held_out

HOLDOUT_FILE = Path(__file__).resolve().parents[2] / "bench" / "data" / "templated_pairs_holdout.jsonl"


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others() -> None:
    assert generate(300, seed=7) == generate(300, seed=7)
    assert generate(300, seed=7) != generate(300, seed=8)


def test_every_kind_of_pair_is_drawn_with_both_labels() -> None:
    pairs = generate(3000, seed=1)
    kinds = Counter(p.kind for p in pairs)
    assert {"paraphrase", "followup", "negation", "action", "scope", "number", "time"} <= kinds.keys()
    assert all(p.label == (p.kind == "paraphrase") for p in pairs)
    assert 0.3 < sum(p.label for p in pairs) / len(pairs) < 0.5
    assert all(p.a.strip() and p.b.strip() and p.a != p.b for p in pairs)


def test_a_changed_slot_is_another_value_and_a_paraphrase_keeps_every_value() -> None:
    for pair in generate(500, seed=3):
        if pair.kind in {"action", "object", "scope", "entity"}:
            assert pair.a.lower() != pair.b.lower()


def test_the_held_out_split_shares_no_domain_and_no_question_shape_with_training() -> None:
    assert {d.name for d in DOMAINS}.isdisjoint(d.name for d in HELD_OUT_DOMAINS)
    training_wordings = {w for f in FRAMES for w in (*f.wordings, *f.negated, *f.followups)}
    held_wordings = {w for f in HELD_OUT_FRAMES for w in (*f.wordings, *f.negated)}
    assert training_wordings.isdisjoint(held_wordings)
    training_texts = {t for p in generate(4000, seed=0) for t in (p.a, p.b)}
    held = held_out(600, seed=11)
    assert {p.domain for p in held} <= {d.name for d in HELD_OUT_DOMAINS}
    assert not training_texts & {t for p in held for t in (p.a, p.b)}


def test_the_committed_holdout_file_is_what_the_generator_writes() -> None:
    rows = [json.loads(line) for line in HOLDOUT_FILE.read_text().splitlines()]
    expected = [p.model_dump() for p in held_out(len(rows), seed=11)]
    assert rows == expected and len(rows) >= 500
