"""Strong rewordings and their same-shape hard negatives: seeded, the positives keep every specific, a slot
negative changes exactly one, and no renderer repeats a wording of the tuning or held-out splits."""

from __future__ import annotations

import random
import re
from collections import Counter

from llmcache.quality.synthetic_pairs import (
    FRESH_FRAMES,
    HELD_OUT_FRAMES,
    TRAINING_DOMAINS,
    TUNING_FRAMES,
    generate,
)
from llmcache.quality.synthetic_rewordings import INTENTS, Draft, draft, gerund, participle, rewordings

SPECIFIC_SLOTS = ("object", "context", "context2", "plan", "number", "time")


def _drafts(count: int, seed: int) -> list[Draft]:
    rng = random.Random(seed)
    made: list[Draft] = []
    while len(made) < count:
        one = draft(rng, rng.choice(TRAINING_DOMAINS), rng.choice(INTENTS))
        if one is not None:
            made.append(one)
    return made


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others() -> None:
    assert rewordings(400, seed=5) == rewordings(400, seed=5)
    assert rewordings(400, seed=5) != rewordings(400, seed=6)


def test_about_half_are_rewordings_and_every_negative_kind_is_drawn() -> None:
    pairs = rewordings(3000, seed=1)
    kinds = Counter(p.kind for p in pairs)
    assert {"reworded", "action", "object", "scope", "entity", "number", "time", "negation", "followup"} <= set(kinds)
    assert all(p.label == (p.kind == "reworded") for p in pairs)
    assert 0.4 < sum(p.label for p in pairs) / len(pairs) < 0.6
    assert all(p.a.strip() and p.b.strip() and p.a.lower() != p.b.lower() for p in pairs)
    assert all("{" not in p.a + p.b for p in pairs)


def test_a_rewording_keeps_every_specific_in_other_words_and_another_sentence_shape() -> None:
    for made in _drafts(1500, seed=2):
        if made.label != 1:
            continue
        assert made.values_a == made.values_b
        for slot in SPECIFIC_SLOTS:  # each specific's wording (a synonym of the same value) is in both texts
            if slot in made.words_a:
                assert made.words_a[slot].lower() in made.a.lower()
                assert made.words_b[slot].lower() in made.b.lower()
        if "action" in made.words_a:  # the action, conjugated or not, keeps its verb
            action = made.words_b["action"]
            assert any(form.lower() in made.b.lower() for form in (action, gerund(action), participle(action)))


def test_a_slot_negative_changes_exactly_one_specific_and_the_others_do_not() -> None:
    seen = 0
    for made in _drafts(1500, seed=3):
        if made.kind in {"reworded", "negation", "followup"}:
            continue
        seen += 1
        changed = [slot for slot in made.values_a if made.values_a[slot] != made.values_b[slot]]
        assert len(changed) == 1
        if changed[0] not in {"action"}:
            new = made.words_b[changed[0]].lower()
            assert new in made.b.lower()
    assert seen > 300


def test_negations_and_follow_ups_keep_the_values_and_ask_another_question() -> None:
    drafts = _drafts(3000, seed=4)
    negations = [d for d in drafts if d.kind == "negation"]
    followups = [d for d in drafts if d.kind == "followup"]
    assert negations and followups
    assert all(re.search(r"\b(not|can't|n't)\b|n't", d.b) for d in negations)
    assert all(d.values_a == d.values_b and len(d.b) < len(d.a) + 10 for d in followups)


def test_verb_forms_by_rule() -> None:
    assert [gerund(a) for a in ("turn off", "remove", "stop", "free up", "debug", "auto-translate")] == [
        "turning off",
        "removing",
        "stopping",
        "freeing up",
        "debugging",
        "auto-translating",
    ]
    assert [participle(a) for a in ("turn off", "send", "modify", "tag", "set up", "pay for")] == [
        "turned off",
        "sent",
        "modified",
        "tagged",
        "set up",
        "paid for",
    ]


def _skeleton(text: str) -> str:  # a sentence shape without its slot fillers
    return re.sub(r"\{[a-z0-9]+\}", "{}", text).lower()


def test_no_renderer_repeats_a_wording_of_the_tuning_or_held_out_frames() -> None:
    words = {"action": "ACT", "object": "OBJ", "context": "CTX", "context2": "CTX2", "plan": "PLAN"}
    words |= {"number": "NUM", "time": "TIME"}
    rendered = set()
    for intent in INTENTS:
        for renderer in (*intent.renderers, *intent.negated):
            text = renderer(dict(words))
            if text is not None:
                rendered.add(text.lower())
    assert rendered
    for frames in (TUNING_FRAMES, HELD_OUT_FRAMES, FRESH_FRAMES):
        for frame in frames:
            for wording in (*frame.wordings, *frame.negated):
                filled = wording.format(**{k: v for k, v in words.items() if k != "context2"})
                assert filled.lower() not in rendered


def test_rewordings_do_not_touch_the_templated_generator() -> None:
    assert generate(50, seed=0) == generate(50, seed=0)
    assert not {p.a for p in rewordings(200, seed=0)} & {p.a for p in generate(200, seed=0)}
