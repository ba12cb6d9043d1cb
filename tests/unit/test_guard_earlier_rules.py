"""The evaluation can score the rules as they were before the swapped-slot rule, on the same judged table, so that
the previous default is measured beside the new one."""

from __future__ import annotations

from llmcache.quality.evaluation import Judged, Setting
from llmcache.shared.guard.verifier import SpecificsGuard, Verdict


def test_a_candidate_only_the_swapped_slot_rule_flags_counts_as_clean_without_it() -> None:
    ruled = SpecificsGuard().verify(
        "How do I set up webhooks via the API?", "How do I set up webhooks on the mobile app?"
    )
    assert ruled.reasons == ("swapped-slot",)
    candidate = Judged(cosine=0.9, identical=False, ruled=ruled, verifier_score=None, pair_score=0.5)
    with_rule = Setting(floor=0.66, mode="rules+pair", pair_accept_above=0.3, pair_rescue_above=0.9)
    without = with_rule.model_copy(update={"swapped_slot_rule": False})
    assert not candidate.allowed(with_rule.mode, with_rule.thresholds(), with_rule.swapped_slot_rule)
    assert candidate.allowed(without.mode, without.thresholds(), without.swapped_slot_rule)
    assert "without the swapped-slot rule" in without.describe()


def test_other_conflicts_stay_whatever_the_setting() -> None:
    hard = Judged(0.9, False, Verdict(False, ("number",)), None, None)
    soft = Judged(0.9, False, Verdict(False, ("changed-specific",)), None, 0.5)
    setting = Setting(floor=0.66, mode="rules+pair", pair_accept_above=0.3, pair_rescue_above=0.9)
    for candidate in (hard, soft):
        assert not candidate.allowed(setting.mode, setting.thresholds(), swapped_slot_rule=False)
