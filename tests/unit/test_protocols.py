"""How the two evaluation protocols read one lookup, and the pair model's uncertainty band."""

from __future__ import annotations

from llmcache.quality.evaluation import Pair, classify, tenant_for
from llmcache.shared.guard.verifier import Verdict, decide_pair
from llmcache.shared.policy import VerifierThresholds

POSITIVE = Pair(a="How do I reset my password?", b="How can I change my password?", label=1)
NEGATIVE = Pair(a="Can I pay monthly?", b="Can I pay yearly?", label=0)


def test_classify_follows_the_labels_and_keeps_unlabelled_hits_apart() -> None:
    assert classify(POSITIVE, None) == "miss"
    assert classify(POSITIVE, POSITIVE.a) == "correct"
    assert classify(NEGATIVE, NEGATIVE.a) == "false"
    assert classify(NEGATIVE, "Some other stored question?") == "unlabelled"
    # the very text asked, stored as another pair's a: any cache serves it from the exact path
    assert classify(NEGATIVE, NEGATIVE.b) == "correct"


def test_pairwise_gives_every_pair_a_scope_of_its_own() -> None:
    assert tenant_for("retrieval", "eval", 3) == tenant_for("retrieval", "eval", 4) == "eval"
    assert len({tenant_for("pairwise", "eval", i) for i in range(100)}) == 100


BAND = VerifierThresholds(veto_below=0.0, rescue_above=1.0, pair_accept_above=0.8, pair_reject_below=0.3)


def test_the_band_serves_sure_candidates_refuses_the_rest_and_marks_the_uncertain() -> None:
    clean = Verdict(True, ())
    assert decide_pair(clean, 0.85, BAND).allowed
    sure_no = decide_pair(clean, 0.1, BAND)
    assert not sure_no.allowed and not sure_no.uncertain and sure_no.reasons == ("pair-model",)
    unsure = decide_pair(clean, 0.5, BAND)
    assert not unsure.allowed and unsure.uncertain and unsure.reasons == ("uncertain",)


def test_the_rules_keep_their_veto_whatever_the_pair_model_says() -> None:
    hard = Verdict(False, ("number",))
    assert decide_pair(hard, 0.999, BAND) is hard
    soft = Verdict(False, ("changed-specific",))  # the swapped word the pair model reads
    assert decide_pair(soft, 0.9, BAND).allowed
    assert decide_pair(soft, 0.5, BAND).reasons == ("changed-specific",)
