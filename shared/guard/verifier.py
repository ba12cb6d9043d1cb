"""The guard after the nearest-neighbour search, in two stages.

1. Rules (`llmcache.shared.guard.specifics`): a number, negation, time/action contrast, scope, named entity, polarity or
   follow-up that differs between the two questions is a hard conflict: the candidate is never served. A question
   that repeats the other with one or two content words swapped is a soft conflict: `refund`/`repair` changes what
   is asked, `lost`/`forgotten` does not, and rules cannot tell the two apart.
2. The judge of equivalence, where the rules leave it a say:
   - the pair model (`llmcache.shared.guard.pair_model`, the default): a cross-encoder reading both texts together. A
     score from `pair_accept_above` up is "surely the same" and served; below `pair_reject_below` "surely different" and
     refused; in between the candidate is *uncertain*, refused unless the namespace sends it to a judge;
   - else the older learned verifier (`llmcache.shared.guard.learned`, LightGBM over the two vectors) when both vectors
     are known: it vetoes a rule-clean candidate scoring below `veto_below` and lets a soft conflict through only when
     it scores at least `rescue_above`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import structlog

from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import LLMCacheError
from llmcache.shared.guard.features import pair_features
from llmcache.shared.guard.judge import EquivalenceJudge
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.guard.pair_model import PairModel
from llmcache.shared.guard.specifics import Specifics, conflicts, extract
from llmcache.shared.policy import VerifierThresholds

log = structlog.get_logger(__name__)

SOFT_CONFLICTS = frozenset({"changed-specific", "swapped-span", "swapped-slot"})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]
    score: float | None = None  # the judge's (pair model or learned verifier), when it ran
    uncertain: bool = False  # the pair model's score fell in the band between surely same and surely different

    @property
    def hard_conflict(self) -> bool:
        return any(reason not in SOFT_CONFLICTS for reason in self.reasons)


@lru_cache(maxsize=65_536)
def _specifics(text: str) -> Specifics:
    return extract(text)


class SpecificsGuard:
    """The rules alone. Stateless and thread-safe; extraction of a text's specifics is memoised."""

    def verify(self, query_text: str, cached_text: str) -> Verdict:
        if query_text == cached_text:
            return Verdict(True, ())
        reasons = conflicts(_specifics(query_text), _specifics(cached_text))
        return Verdict(not reasons, tuple(reasons))


class FalseHitGuard:
    """Rules, then the judge where thresholds are given: the pair model when the guard has one and the thresholds
    name its band, else the learned verifier where both vectors are known. Without either the rules decide alone.
    Thread-safe. Pair-model scores are memoised per (query, candidate), so `prefetch` can score a whole batch of
    candidates in one run and the per-candidate decisions that follow reuse them."""

    def __init__(
        self,
        rules: SpecificsGuard | None = None,
        verifier: LearnedVerifier | None = None,
        pair_model: PairModel | None = None,
        judge: EquivalenceJudge | None = None,
        memo_size: int = 65_536,
    ) -> None:
        self.rules = rules or SpecificsGuard()
        self.verifier = verifier
        self.pair_model = pair_model
        self.judge = judge
        self._memo: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._memo_size = memo_size
        self._memo_lock = threading.Lock()

    def verify(
        self,
        query_text: str,
        cached_text: str,
        *,
        query_vector: Vectors | None = None,
        cached_vector: Vectors | None = None,
        thresholds: VerifierThresholds | None = None,
    ) -> Verdict:
        if thresholds is None:
            return self.rules.verify(query_text, cached_text)
        if self.pair_model is not None and thresholds.pair_accept_above is not None:
            ruled = self.rules.verify(query_text, cached_text)
            if query_text == cached_text or ruled.hard_conflict:
                return ruled
            verdict = decide_pair(ruled, self.pair_scores([(query_text, cached_text)])[0], thresholds)
            if verdict.uncertain and thresholds.judge_uncertain and self.judge is not None:
                return self._ask_judge(query_text, cached_text, verdict)
            return verdict
        ruled, score = self.assess(query_text, cached_text, query_vector, cached_vector)
        return ruled if score is None else decide(ruled, score, thresholds)

    def _ask_judge(self, query_text: str, cached_text: str, uncertain: Verdict) -> Verdict:
        """The judge's verdict on an uncertain candidate; if the judge cannot be reached, the candidate is refused
        (a miss costs one provider call, a wrong answer costs trust)."""
        assert self.judge is not None
        try:
            judged = self.judge.same(query_text, cached_text)
        except LLMCacheError as error:
            log.warning("guard_judge_failed", error=type(error).__name__)
            return uncertain
        if judged.same:
            return Verdict(True, (), uncertain.score)
        return Verdict(False, ("judge",), uncertain.score)

    def prefetch(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Scores, in one batched run, every (query, candidate) the rules leave to the pair model."""
        if self.pair_model is None:
            return
        self.pair_scores([(q, c) for q, c in pairs if q != c and not self.rules.verify(q, c).hard_conflict])

    def pair_scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The pair model's score of each (query, candidate), memoised; unknown ones scored together."""
        assert self.pair_model is not None
        with self._memo_lock:
            known = {pair: self._memo[pair] for pair in pairs if pair in self._memo}
        missing = list(dict.fromkeys(pair for pair in pairs if pair not in known))
        if missing:
            scored = self.pair_model.score_many(missing)
            with self._memo_lock:
                for pair, score in zip(missing, scored, strict=True):
                    known[pair] = self._memo[pair] = float(score)
                while len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        return [known[pair] for pair in pairs]

    def assess(
        self, query_text: str, cached_text: str, query_vector: Vectors | None, cached_vector: Vectors | None
    ) -> tuple[Verdict, float | None]:
        """The rules' verdict, and the learned verifier's score wherever the rules leave it a say (None elsewhere):
        what `decide` needs under any thresholds, so that a sweep can judge each candidate once."""
        ruled = self.rules.verify(query_text, cached_text)
        if (
            self.verifier is None
            or query_vector is None
            or cached_vector is None
            or query_text == cached_text
            or ruled.hard_conflict
        ):
            return ruled, None
        row = pair_features(query_text, cached_text, query_vector, cached_vector, ruled.allowed)
        return ruled, float(self.verifier.score(row)[0])


def decide(ruled: Verdict, score: float, thresholds: VerifierThresholds) -> Verdict:
    """The learned verifier's decision on a candidate the rules did not reject outright."""
    if ruled.hard_conflict:
        return ruled
    if ruled.reasons:
        allowed = score >= thresholds.rescue_above
        return Verdict(allowed, () if allowed else ruled.reasons, score)
    allowed = score >= thresholds.veto_below
    return Verdict(allowed, () if allowed else ("verifier",), score)


def decide_pair(ruled: Verdict, score: float, thresholds: VerifierThresholds) -> Verdict:
    """The pair model's decision on a candidate the rules did not reject outright. A soft conflict (a swapped word
    or slot, which changes the question more often than not) is served only from `pair_rescue_above`; a candidate
    the rules find clean from `pair_accept_above`, refused below `pair_reject_below`, uncertain in between:
    refused here, and what a namespace with a judge asks it about."""
    if ruled.hard_conflict:
        return ruled
    accept = thresholds.pair_accept_above if thresholds.pair_accept_above is not None else 0.5
    if ruled.reasons:
        rescue = thresholds.pair_rescue_above if thresholds.pair_rescue_above is not None else accept
        return Verdict(True, (), score) if score >= rescue else Verdict(False, ruled.reasons, score)
    reject = thresholds.pair_reject_below if thresholds.pair_reject_below is not None else accept
    if score >= accept:
        return Verdict(True, (), score)
    if score < min(reject, accept):
        return Verdict(False, ("pair-model",), score)
    return Verdict(False, ("uncertain",), score, uncertain=True)
