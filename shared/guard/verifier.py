"""The guard after the nearest-neighbour search, in two stages.

1. Rules (`shared.guard.specifics`): a number, negation, time/action contrast, scope, named entity, polarity or
   follow-up that differs between the two questions is a hard conflict: the candidate is never served. A question
   that repeats the other with one or two content words swapped is a soft conflict: `refund`/`repair` changes what
   is asked, `lost`/`forgotten` does not, and rules cannot tell the two apart.
2. The learned verifier (`shared.guard.learned`), when the policy enables it and both vectors are known: it vetoes a
   rule-clean candidate scoring below `veto_below` (a different question on the same topic) and lets a soft conflict
   through only when it scores at least `rescue_above`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.embedding.base import Vectors
from shared.guard.features import pair_features
from shared.guard.learned import LearnedVerifier
from shared.guard.specifics import Specifics, conflicts, extract

SOFT_CONFLICTS = frozenset({"changed-specific", "swapped-span"})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]
    score: float | None = None  # the learned verifier's, when it ran

    @property
    def hard_conflict(self) -> bool:
        return any(reason not in SOFT_CONFLICTS for reason in self.reasons)


@dataclass(frozen=True)
class VerifierThresholds:
    veto_below: float
    rescue_above: float


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
    """Rules, then the learned verifier where thresholds and both vectors are given. Thread-safe. Without a
    verifier (none given, e.g. under an embedder the model was not trained on) the rules decide alone."""

    def __init__(self, rules: SpecificsGuard | None = None, verifier: LearnedVerifier | None = None) -> None:
        self.rules = rules or SpecificsGuard()
        self.verifier = verifier

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
        ruled, score = self.assess(query_text, cached_text, query_vector, cached_vector)
        return ruled if score is None else decide(ruled, score, thresholds)

    def assess(
        self, query_text: str, cached_text: str, query_vector: Vectors | None, cached_vector: Vectors | None
    ) -> tuple[Verdict, float | None]:
        """The rules' verdict, and the verifier's score wherever the rules leave it a say (None elsewhere): what
        `decide` needs under any thresholds, so that a sweep can judge each candidate once."""
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
    """The second stage's decision on a candidate the rules did not reject outright."""
    if ruled.hard_conflict:
        return ruled
    if ruled.reasons:
        allowed = score >= thresholds.rescue_above
        return Verdict(allowed, () if allowed else ruled.reasons, score)
    allowed = score >= thresholds.veto_below
    return Verdict(allowed, () if allowed else ("verifier",), score)
