"""Scoring a setting over a gathered candidate table: the nearest candidate above the floor decides, as in the cache."""

from __future__ import annotations

from llmcache.quality.evaluation import (
    Judged,
    Neighbour,
    Pair,
    PairCandidates,
    Setting,
    recommend,
    score_setting,
    score_settings,
)
from llmcache.shared.guard.verifier import Verdict

CLEAN, SOFT, HARD = Verdict(True, ()), Verdict(False, ("changed-specific",)), Verdict(False, ("number",))


def item(a: str, b: str, label: int, *candidates: tuple[str, float]) -> PairCandidates:
    return PairCandidates(Pair(a=a, b=b, label=label), None, [Neighbour(t, c, None) for t, c in candidates])


TABLE = [
    item("q1", "p1", 1, ("q1", 0.9)),  # correct when allowed
    item("q2", "p2", 1, ("other", 0.8), ("q2", 0.7)),  # the nearest is another question: an unlabelled hit
    item("q3", "p3", 0, ("q3", 0.95)),  # a negative: any hit is false
    item("q4", "p4", 1, ("q4", 0.6)),  # below a 0.66 floor: a miss
]
JUDGED = [
    [Judged(0.9, False, CLEAN, 0.7)],
    [Judged(0.8, False, SOFT, 0.95), Judged(0.7, False, CLEAN, 0.9)],
    [Judged(0.95, False, CLEAN, 0.03)],
    [Judged(0.6, False, CLEAN, 0.9)],
]


def test_cosine_rules_and_verifier_settings() -> None:
    cosine = score_setting(TABLE, JUDGED, Setting(floor=0.66, mode="cosine"))
    assert (cosine.correct_hits, cosine.false_hits, cosine.unlabelled_hits) == (1, 1, 1)
    assert cosine.precision == 1 / 3 and cosine.precision_labelled == 1 / 2  # strict, and labelled pairs only
    rules = score_setting(TABLE, JUDGED, Setting(floor=0.66, mode="rules"))
    # the soft conflict stops the lookup: the farther, right candidate is never tried
    assert (rules.correct_hits, rules.false_hits + rules.unlabelled_hits) == (1, 1)
    verifier = score_setting(TABLE, JUDGED, Setting(floor=0.66, mode="rules+verifier", veto_below=0.05,
                                                    rescue_above=0.9))  # fmt: skip
    # rescued the swap (onto another stored question), vetoed the negative
    assert (verifier.correct_hits, verifier.false_hits, verifier.unlabelled_hits) == (1, 0, 1)
    assert verifier.precision == 0.5 and verifier.recall == 1 / 3 and verifier.false_hit_rate == 0.0
    low_floor = score_setting(TABLE, JUDGED, Setting(floor=0.5, mode="rules"))
    assert low_floor.correct_hits == 2


def test_recommend_prefers_recall_then_the_stricter_setting() -> None:
    rows = [
        score_setting(TABLE, JUDGED, Setting(floor=f, mode="rules+verifier", veto_below=v, rescue_above=0.99))
        for f in (0.5, 0.66)
        for v in (0.0, 0.05)
    ]
    chosen = recommend(rows, 0.6)
    assert chosen is not None and chosen.precision >= 0.6
    assert (chosen.setting.floor, chosen.setting.veto_below) == (0.5, 0.05)
    assert recommend(rows, 1.01) is None


def test_recommend_breaks_a_tie_with_the_stricter_rescue() -> None:
    rows = [
        score_setting(TABLE, JUDGED, Setting(floor=0.66, mode="rules+verifier", veto_below=0.0, rescue_above=r))
        for r in (0.6, 0.8, 0.9)
    ]
    # the swap in TABLE scores 0.95: every one of these rescues it, so all three tie on recall
    assert len({(r.correct_hits, r.false_hits) for r in rows}) == 1
    chosen = recommend(rows, 0.0)
    assert chosen is not None and chosen.setting.rescue_above == 0.9


def test_scoring_many_settings_at_once_matches_one_at_a_time() -> None:
    settings = [Setting(floor=f, mode=m) for f in (0.5, 0.66, 0.9) for m in ("cosine", "rules")]
    assert score_settings(TABLE, JUDGED, settings) == [score_setting(TABLE, JUDGED, s) for s in settings]


def test_the_pair_model_setting_vetoes_hard_conflicts_and_thresholds_the_rest() -> None:
    judged = [
        [Judged(0.9, False, CLEAN, None, 0.8)],
        [Judged(0.8, False, SOFT, None, 0.95)],  # a soft conflict the pair model is sure about: served
        [Judged(0.95, False, HARD, None, None)],  # a hard conflict is never scored, never served
        [Judged(0.6, False, CLEAN, None, 0.9)],
    ]
    table = [*TABLE[:2], item("q3", "p3", 0, ("q3", 0.95)), TABLE[3]]
    strict = score_setting(table, judged, Setting(floor=0.66, mode="rules+pair", pair_accept_above=0.9))
    assert (strict.correct_hits, strict.false_hits, strict.unlabelled_hits) == (0, 0, 1)
    loose = score_setting(table, judged, Setting(floor=0.66, mode="rules+pair", pair_accept_above=0.5))
    assert (loose.correct_hits, loose.false_hits, loose.unlabelled_hits) == (1, 0, 1)
    assert "pair model from 0.5" in loose.setting.describe()
