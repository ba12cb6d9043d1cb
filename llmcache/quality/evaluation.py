"""Labelled pairs through the real cache core, under two protocols (`../shared/data/README.md`):

- pairwise (how the labels speak): each pair's `a` is stored in a scope of its own, so its `b` meets only its own
  `a`. A hit on a label-1 pair is correct, a hit on a label-0 pair false.
- retrieval (GPTCache's benchmark): every distinct `a` stored together, every `b` looked up. A hit serving the pair's
  own `a` is correct on label 1, false on label 0; a hit serving the very text asked (another pair's `a`) is
  correct, as any cache serves it from the exact path; a hit on another stored question has no label and is
  reported apart (unlabelled), with precision both counting it false (strict) and leaving it out (labelled only).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from llmcache.shared.cache import LLMCache, StoreItem
from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import InvalidRequestError
from llmcache.shared.guard.verifier import FalseHitGuard, Verdict, decide, decide_pair
from llmcache.shared.models import CacheRequest, Completion, Message, Miss, Scope
from llmcache.shared.policy import VerifierThresholds

CHUNK = 256


class Pair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    a: str
    b: str
    label: int
    kind: str | None = None


Protocol = Literal["pairwise", "retrieval"]
Outcome = Literal["miss", "correct", "false", "unlabelled"]


class KindStats(BaseModel):
    pairs: int = 0
    hits: int = 0
    correct_hits: int = 0
    false_hits: int = 0  # labelled false: a label-0 pair's own `a` served
    unlabelled_hits: int = 0  # retrieval only: another stored question served, for which no label exists


class PairsReport(BaseModel):
    """Precision two ways: `precision` (strict) counts an unlabelled hit false, `precision_labelled` leaves it out;
    under the pairwise protocol the two are equal (every hit meets its own pair's `a`)."""

    protocol: Protocol
    n: int
    positives: int
    negatives: int
    hits: int
    correct_hits: int
    false_hits: int
    unlabelled_hits: int
    # correct hits that served the very text asked (another pair's `a`): any cache serves it from the exact path
    identical_text_hits: int
    misses: int
    precision: float
    precision_labelled: float
    recall: float
    false_hit_rate: float
    lookup_ms_mean: float
    by_kind: dict[str, KindStats]


def classify(pair: Pair, served: str | None) -> Outcome:
    """How the labels speak for one lookup: `served` is the stored question whose answer came back (None: a miss)."""
    if served is None:
        return "miss"
    query, own = pair.b.strip(), pair.a.strip()
    if served == query:
        return "correct"
    if served == own:
        return "correct" if pair.label == 1 else "false"
    return "unlabelled"


def tenant_for(protocol: Protocol, tenant: str, index: int) -> str:
    """Pairwise: every pair's `a` lives in a scope of its own, where only its own `b` can meet it."""
    return tenant if protocol == "retrieval" else f"{tenant}-{index}"


def kind_of(pair: Pair) -> str:
    return pair.kind or ("positive" if pair.label else "negative")


def _precision(correct: int, wrong: int) -> float:
    return correct / (correct + wrong) if correct + wrong else 1.0


def load_pairs(path: Path) -> list[Pair]:
    opener = gzip.open if path.suffix == ".gz" else open
    pairs: list[Pair] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                pairs.append(Pair.model_validate_json(line))
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) or "line"
                raise InvalidRequestError(f"{path.name}:{number}: {field}", first["msg"]) from None
    return pairs


def _request(text: str, namespace: str, tenant: str) -> CacheRequest:
    return CacheRequest(
        provider="openai",
        model="eval-model",
        messages=[Message(role="user", content=text)],
        namespace=namespace,
        scope=Scope(tenant=tenant),
    )


def _answer(text: str) -> Completion:
    return Completion(provider="openai", model="eval-model", text=f"answer to: {text}", finish_reason="stop")


def _store_originals(
    cache: LLMCache, pairs: Sequence[Pair], namespace: str, tenant: str, protocol: Protocol = "retrieval"
) -> None:
    originals = list(dict.fromkeys((p.a.strip(), tenant_for(protocol, tenant, i)) for i, p in enumerate(pairs)))
    for start in range(0, len(originals), CHUNK):
        chunk = originals[start : start + CHUNK]
        requests = [_request(text, namespace, scope) for text, scope in chunk]
        found = cache.lookup_many(requests)
        cache.store_many(
            [
                StoreItem(request, _answer(text), result if isinstance(result, Miss) else None)
                for (text, _), request, result in zip(chunk, requests, found, strict=True)
            ]
        )


def evaluate_pairs(
    cache: LLMCache,
    pairs: Sequence[Pair],
    *,
    namespace: str = "default",
    tenant: str = "eval",
    threshold: float | None = None,
    protocol: Protocol = "retrieval",
) -> PairsReport:
    _store_originals(cache, pairs, namespace, tenant, protocol)
    counts = {"correct": 0, "false": 0, "unlabelled": 0, "miss": 0}
    identical = positive_correct = negative_false = 0
    by_kind: dict[str, KindStats] = {}
    started = time.perf_counter()
    for start in range(0, len(pairs), CHUNK):
        batch = list(enumerate(pairs[start : start + CHUNK], start=start))
        requests = [_request(p.b, namespace, tenant_for(protocol, tenant, i)) for i, p in batch]
        results = cache.lookup_many(requests, threshold=threshold)
        for (_, pair), result in zip(batch, results, strict=True):
            stats = by_kind.setdefault(kind_of(pair), KindStats())
            stats.pairs += 1
            served = None if isinstance(result, Miss) else (result.entry.prompt_text or "")
            outcome = classify(pair, served)
            counts[outcome] += 1
            if outcome == "miss":
                continue
            stats.hits += 1
            if outcome == "correct":
                stats.correct_hits += 1
                identical += served == pair.b.strip() and served != pair.a.strip()
                positive_correct += pair.label == 1
            elif outcome == "false":
                stats.false_hits += 1
                negative_false += 1
            else:
                stats.unlabelled_hits += 1
                negative_false += pair.label == 0
    elapsed_ms = (time.perf_counter() - started) * 1000
    positives = sum(p.label == 1 for p in pairs)
    negatives = len(pairs) - positives
    correct, false, unlabelled = counts["correct"], counts["false"], counts["unlabelled"]
    return PairsReport(
        protocol=protocol,
        n=len(pairs),
        positives=positives,
        negatives=negatives,
        hits=correct + false + unlabelled,
        correct_hits=correct,
        false_hits=false,
        unlabelled_hits=unlabelled,
        identical_text_hits=identical,
        misses=positives - positive_correct,
        precision=_precision(correct, false + unlabelled),
        precision_labelled=_precision(correct, false),
        recall=positive_correct / positives if positives else 0.0,
        false_hit_rate=negative_false / negatives if negatives else 0.0,
        lookup_ms_mean=elapsed_ms / max(len(pairs), 1),
        by_kind=by_kind,
    )


@dataclass(frozen=True)
class Neighbour:
    text: str  # the cached prompt
    cosine: float
    vector: Vectors | None


@dataclass(frozen=True)
class PairCandidates:
    pair: Pair
    query_vector: Vectors | None
    candidates: list[Neighbour]  # best first


GuardMode = Literal["cosine", "rules", "rules+verifier", "rules+pair"]


class Setting(BaseModel):
    model_config = ConfigDict(frozen=True)

    floor: float
    mode: GuardMode
    veto_below: float | None = None
    rescue_above: float | None = None
    pair_accept_above: float | None = None  # rules+pair: the pair model's threshold (the band refused by default)
    pair_rescue_above: float | None = None  # rules+pair: a soft conflict's (None: the same as pair_accept_above)
    # False: the rules as they were before the swapped-slot rule (a candidate it alone flags counts as clean), to
    # measure the earlier defaults on the same judged table
    swapped_slot_rule: bool = True

    def describe(self) -> str:
        text = f"floor {self.floor:.2f}"
        if self.mode == "rules+verifier" and self.veto_below is not None and self.rescue_above is not None:
            text += f", verifier veto below {self.veto_below:g}, rescue from {self.rescue_above:g}"
        if self.mode == "rules+pair" and self.pair_accept_above is not None:
            text += f", pair model from {self.pair_accept_above:g}"
            if self.pair_rescue_above is not None:
                text += f", soft conflicts from {self.pair_rescue_above:g}"
        if not self.swapped_slot_rule:
            text += ", without the swapped-slot rule"
        return text

    def thresholds(self) -> VerifierThresholds | None:
        if self.mode == "rules+pair" and self.pair_accept_above is not None:
            return VerifierThresholds(
                veto_below=0.0,
                rescue_above=1.0,
                pair_accept_above=self.pair_accept_above,
                pair_rescue_above=self.pair_rescue_above,
            )
        if self.mode != "rules+verifier" or self.veto_below is None or self.rescue_above is None:
            return None
        return VerifierThresholds(veto_below=self.veto_below, rescue_above=self.rescue_above)


class SweepRow(BaseModel):
    setting: Setting
    precision: float  # strict: an unlabelled hit counts false
    recall: float
    false_hit_rate: float
    hits: int
    correct_hits: int
    false_hits: int
    unlabelled_hits: int = 0
    precision_labelled: float = 1.0


@dataclass(frozen=True)
class Judged:
    """One candidate, judged once by the rules and scored once by each model, for any setting to reuse."""

    cosine: float
    identical: bool
    ruled: Verdict
    verifier_score: float | None
    pair_score: float | None = None

    def allowed(self, mode: GuardMode, thresholds: VerifierThresholds | None, swapped_slot_rule: bool = True) -> bool:
        """`thresholds` is the setting's (None: the rules alone), computed once for a whole table."""
        if self.identical or mode == "cosine":
            return True
        ruled = self.ruled
        if not swapped_slot_rule and ruled.reasons == ("swapped-slot",):
            ruled = Verdict(True, ())
        if mode == "rules+pair" and thresholds is not None and thresholds.pair_accept_above is not None:
            if ruled.hard_conflict or self.pair_score is None:
                return ruled.allowed
            return decide_pair(ruled, self.pair_score, thresholds).allowed
        if thresholds is None or self.verifier_score is None:
            return ruled.allowed
        return decide(ruled, self.verifier_score, thresholds).allowed


def collect_candidates(
    cache: LLMCache,
    pairs: Sequence[Pair],
    *,
    namespace: str = "default",
    tenant: str = "eval",
    floor: float = 0.5,
    limit: int = 1,
    protocol: Protocol = "retrieval",
) -> list[PairCandidates]:
    """Store every distinct `a`, then gather each `b`'s same-context neighbours above `floor` once, so that any
    threshold and guard setting can be scored without searching again."""
    _store_originals(cache, pairs, namespace, tenant, protocol)
    stored = {(p.a.strip(), tenant_for(protocol, tenant, i)) for i, p in enumerate(pairs)}
    table: list[PairCandidates] = []
    for start in range(0, len(pairs), CHUNK):
        batch = list(enumerate(pairs[start : start + CHUNK], start=start))
        found = cache.candidates_many(
            [_request(p.b, namespace, tenant_for(protocol, tenant, i)) for i, p in batch], floor, limit
        )
        for (i, pair), neighbours in zip(batch, found, strict=True):
            candidates = [
                Neighbour(entry.prompt_text or "", candidate.score, candidate.vector)
                for entry, candidate in neighbours.found
            ]
            if (pair.b.strip(), tenant_for(protocol, tenant, i)) in stored:  # the exact lookup answers first
                candidates = [Neighbour(pair.b.strip(), 1.0, neighbours.query_vector)]
            table.append(PairCandidates(pair, neighbours.query_vector, candidates))
    return table


def judge(table: Sequence[PairCandidates], guard: FalseHitGuard) -> list[list[Judged]]:
    """Rules on every candidate, the learned verifier's score wherever the rules leave it a say, and the pair
    model's (when the guard has one) on every candidate without a hard conflict, scored in batches."""
    judged: list[list[Judged]] = []
    for item in table:
        query = item.pair.b.strip()
        row = []
        for candidate in item.candidates:
            ruled, score = guard.assess(query, candidate.text, item.query_vector, candidate.vector)
            row.append(Judged(candidate.cosine, candidate.text == query, ruled, score))
        judged.append(row)
    if guard.pair_model is None:
        return judged
    wanted = [
        (query, candidate.text)
        for item, row in zip(table, judged, strict=True)
        for query, candidate, verdict in (
            (item.pair.b.strip(), c, j) for c, j in zip(item.candidates, row, strict=True)
        )
        if not verdict.identical and not verdict.ruled.hard_conflict
    ]
    scores = dict(zip(wanted, guard.pair_scores(wanted), strict=True))
    return [
        [
            Judged(j.cosine, j.identical, j.ruled, j.verifier_score, scores.get((item.pair.b.strip(), c.text)))
            for c, j in zip(item.candidates, row, strict=True)
        ]
        for item, row in zip(table, judged, strict=True)
    ]


def score_setting(table: Sequence[PairCandidates], judged: Sequence[Sequence[Judged]], setting: Setting) -> SweepRow:
    return score_settings(table, judged, [setting])[0]


def score_settings(
    table: Sequence[PairCandidates], judged: Sequence[Sequence[Judged]], settings: Sequence[Setting]
) -> list[SweepRow]:
    """Each setting scored over the table, as the cache would decide: the nearest candidate decides if it is above
    the floor (candidates come best first), and a guarded one means no hit. Outcomes as `classify` says."""
    positives = sum(item.pair.label == 1 for item in table)
    negatives = len(table) - positives
    # (the nearest candidate, its outcome if served, whether the pair is a positive), once per table
    nearest = [
        (row[0], classify(item.pair, item.candidates[0].text), item.pair.label == 1)
        for item, row in zip(table, judged, strict=True)
        if row
    ]
    scored: list[SweepRow] = []
    for setting in settings:
        counts = {"correct": 0, "false": 0, "unlabelled": 0, "miss": 0}
        recalled = negative_false = 0
        thresholds = setting.thresholds()
        for candidate, outcome, positive in nearest:
            if candidate.cosine < setting.floor or not candidate.allowed(
                setting.mode, thresholds, setting.swapped_slot_rule
            ):
                continue
            counts[outcome] += 1
            recalled += outcome == "correct" and positive
            negative_false += outcome != "correct" and not positive
        correct, false, unlabelled = counts["correct"], counts["false"], counts["unlabelled"]
        scored.append(
            SweepRow(
                setting=setting,
                precision=_precision(correct, false + unlabelled),
                recall=recalled / positives if positives else 0.0,
                false_hit_rate=negative_false / negatives if negatives else 0.0,
                hits=correct + false + unlabelled,
                correct_hits=correct,
                false_hits=false,
                unlabelled_hits=unlabelled,
                precision_labelled=_precision(correct, false),
            )
        )
    return scored


def recommend(rows: Sequence[SweepRow], target_precision: float) -> SweepRow | None:
    """The setting meeting the target precision with the most recall; on a tie, the stricter one."""
    meeting = [r for r in rows if r.precision >= target_precision and r.hits > 0]
    return max(meeting, key=_strictness) if meeting else None


def _strictness(row: SweepRow) -> tuple[float, float, float, float, float, float]:
    setting = row.setting
    return (
        row.recall,
        setting.floor,
        setting.veto_below or 0.0,
        setting.rescue_above or 0.0,
        setting.pair_accept_above or 0.0,
        setting.pair_rescue_above or 0.0,
    )
