"""Namespace policy: how long answers live, how close a paraphrase must be, who may share them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class VerifierThresholds:
    veto_below: float
    rescue_above: float
    # the pair model's band; None: no pair model, the learned verifier's thresholds above apply
    pair_accept_above: float | None = None
    pair_reject_below: float | None = None
    pair_rescue_above: float | None = None  # a soft conflict (a swapped word or slot) is served from here up
    judge_uncertain: bool = False  # ask the guard's judge about a candidate in the band, instead of refusing it


class NamespacePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ttl_seconds: Annotated[int, Field(gt=0)] = DAY
    # cosine floor of the nearest candidate; the false-hit guard then checks its specifics (see shared/guard and
    # docs/quality.md: with the guard, 0.60-0.70 keeps FAQ precision above 0.9; without it no floor does)
    similarity_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.66
    guard: bool = True
    # the guard's second stage, the learned pair verifier (shared/guard/learned.py): a candidate with a soft conflict
    # (a swapped word or slot) is served from `verifier_rescue_above` up (0.9: lower thresholds raise precision on
    # Quora but serve more wrong answers in number there, and let a changed specific through out of domain); one
    # the rules let through is vetoed below `verifier_veto_below` (0: off, as any veto cost FAQ recall faster than
    # it bought Quora precision). The sweeps behind both defaults are in docs/quality.md
    verifier: bool = True
    verifier_veto_below: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    verifier_rescue_above: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9
    # the judge of equivalence, replacing the verifier above where on (shared/guard/pair_model.py, a cross-encoder
    # over both texts; the rules keep their veto): served from `pair_accept_above`, refused below
    # `pair_reject_below`, and in between uncertain, refused by default. The defaults were chosen on the FAQ dev
    # file, the Quora validation file and the tuning templates (bench/data/templated_pairs_tuning.jsonl) by
    # bench/pair_models.py: the most Quora and templated precision that keeps the FAQ target and the recall floors
    # there. The model is sure of what it refuses (scores near 0), so its threshold is low; a higher one buys Quora
    # precision with FAQ recall (docs/quality.md has the sweeps)
    pair_model: bool = True
    pair_accept_above: Annotated[float, Field(ge=0.0, le=1.0)] = 0.002
    pair_reject_below: Annotated[float, Field(ge=0.0, le=1.0)] = 0.001
    # a soft conflict (a swapped word, slot or span) is served from here up
    pair_rescue_above: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7
    # "judge": a candidate in the band is put to a cheap provider model (shared/guard/judge.py, cost accounted,
    # verdict cached per pair) instead of being refused; one judge per runtime, the first judging namespace's
    uncertain: Literal["refuse", "judge"] = "refuse"
    judge_provider: Literal["openai", "anthropic"] = "openai"
    judge_model: Annotated[str, Field(min_length=1)] = "gpt-4o-mini"
    semantic: bool = True
    # a semantic hit (the guard's judgement) writes an exact alias entry under the request's own key: the same
    # request is an exact hit next time, whatever has been stored near it since (no vector point; it is invalidated,
    # purged and expires with its source). Off: every lookup of a paraphrase is judged again
    alias_semantic_hits: bool = True
    user_scoped: bool = False
    never_store: bool = False
    cache_truncated: bool = False
    prompt_version: Annotated[str, Field(min_length=1)] = "1"
    semantic_candidates: Annotated[int, Field(ge=1, le=50)] = 4
    # provider prompt-cache TTL (Anthropic): 1h costs 2x to write, pays off when reuse is spread over > 5 minutes
    prompt_cache_ttl: Literal["5m", "1h"] = "5m"

    def verifier_thresholds(self) -> VerifierThresholds | None:
        if self.guard and self.pair_model:
            return VerifierThresholds(
                veto_below=self.verifier_veto_below,
                rescue_above=self.verifier_rescue_above,
                pair_accept_above=self.pair_accept_above,
                pair_reject_below=min(self.pair_reject_below, self.pair_accept_above),
                pair_rescue_above=self.pair_rescue_above,
                judge_uncertain=self.uncertain == "judge",
            )
        if not (self.guard and self.verifier):
            return None
        return VerifierThresholds(veto_below=self.verifier_veto_below, rescue_above=self.verifier_rescue_above)


def seed_policies() -> dict[str, NamespacePolicy]:
    """The seed table: faq 7-30 d, pricing 24 h, news 1-4 h, code 24-72 h, user-specific never stored."""
    return {
        "default": NamespacePolicy(ttl_seconds=DAY),
        "faq": NamespacePolicy(ttl_seconds=14 * DAY, prompt_cache_ttl="1h"),
        "pricing": NamespacePolicy(ttl_seconds=DAY, similarity_threshold=0.80),
        "news": NamespacePolicy(ttl_seconds=2 * HOUR, similarity_threshold=0.80),
        "code": NamespacePolicy(ttl_seconds=2 * DAY, similarity_threshold=0.92),
        "user": NamespacePolicy(ttl_seconds=HOUR, semantic=False, user_scoped=True, never_store=True),
    }
