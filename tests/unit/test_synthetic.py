"""The synthetic pair generator: seeded, compositional, and with a held-out split training never sees."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from llmcache.quality.synthetic_pairs import (
    DOMAINS,
    FRAMES,
    FRESH_DOMAINS,
    FRESH_FRAMES,
    HELD_OUT_DOMAINS,
    HELD_OUT_FRAMES,
    MORE_DOMAINS,
    TRAINING_DOMAINS,
    TUNING_DOMAINS,
    TUNING_FRAMES,
    Domain,
    Frame,
    SyntheticPair,
    fresh,
    generate,
    held_out,
    tuning,
)

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
HOLDOUT_FILE = DATA / "templated_pairs_holdout.jsonl"


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


def _wordings(frames: tuple[Frame, ...]) -> set[str]:  # follow-ups ("And {other}?") are short and shared
    return {w for f in frames for w in (*f.wordings, *f.negated)}


def _vocabulary(domains: tuple[Domain, ...]) -> set[str]:
    return {w for d in domains for slot in ("action", "object", "context") for v in d.slots[slot] for w in v.wordings}


def test_training_tuning_and_both_held_out_splits_share_no_domain_and_no_question_shape() -> None:
    splits = [(DOMAINS, FRAMES), (TUNING_DOMAINS, TUNING_FRAMES), (HELD_OUT_DOMAINS, HELD_OUT_FRAMES)]
    splits.append((FRESH_DOMAINS, FRESH_FRAMES))
    for index, (domains, frames) in enumerate(splits):
        for other_domains, other_frames in splits[index + 1 :]:
            assert {d.name for d in domains}.isdisjoint(d.name for d in other_domains)
            assert _wordings(frames).isdisjoint(_wordings(other_frames))
    # the vocabulary thresholds are tuned on is not the one the held-out splits report on (common words aside:
    # "cancel", "update", "on the app")
    tuned = _vocabulary(TUNING_DOMAINS)
    assert len(tuned & (_vocabulary(FRESH_DOMAINS) | _vocabulary(HELD_OUT_DOMAINS))) < len(tuned) / 10


def _read(name: str) -> list[SyntheticPair]:
    return [SyntheticPair.model_validate_json(line) for line in (DATA / name).read_text().splitlines()]


def test_the_committed_tuning_and_fresh_files_are_what_the_generator_writes() -> None:
    tuned, reported = _read("templated_pairs_tuning.jsonl"), _read("templated_pairs_fresh.jsonl")
    assert tuned == tuning(len(tuned), seed=21) and len(tuned) >= 1000
    assert reported == fresh(len(reported), seed=31) and len(reported) >= 1000
    assert {p.domain for p in reported} <= {d.name for d in FRESH_DOMAINS}


def test_the_added_training_vocabularies_use_no_word_of_the_tuning_or_held_out_splits() -> None:
    assert [d.name for d in TRAINING_DOMAINS] == [d.name for d in (*DOMAINS, *MORE_DOMAINS)]
    others = _vocabulary(TUNING_DOMAINS) | _vocabulary(HELD_OUT_DOMAINS) | _vocabulary(FRESH_DOMAINS)
    assert _vocabulary(MORE_DOMAINS).isdisjoint(others)
    assert {d.name for d in TRAINING_DOMAINS}.isdisjoint(
        d.name for d in (*TUNING_DOMAINS, *HELD_OUT_DOMAINS, *FRESH_DOMAINS)
    )
