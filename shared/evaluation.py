"""The pairs protocol (GPTCache's benchmark): store every distinct `a` with its own answer through the real cache
core, look up every `b`. A hit returning the answer of its own pair's `a` on a label-1 pair is correct; any other
hit is a false hit; no hit on a label-1 pair is a miss."""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.cache import LLMCache, StoreItem
from shared.embedding.base import Vectors
from shared.errors import InvalidRequestError
from shared.guard.verifier import FalseHitGuard, Verdict, VerifierThresholds, decide
from shared.models import CacheRequest, Completion, Message, Miss, Scope

CHUNK = 256


class Pair(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    a: str
    b: str
    label: int
    kind: str | None = None


class KindStats(BaseModel):
    pairs: int = 0
    hits: int = 0
    false_hits: int = 0


class PairsReport(BaseModel):
    n: int
    positives: int
    negatives: int
    correct_hits: int
    false_hits: int
    # false hits that served the answer cached for the very same text (stored as another pair's `a`): the
    # protocol counts them false, though no cache could or should miss them
    false_hits_identical_text: int
    # false hits that served another stored question than the pair's own `a` (identical-text ones included): the
    # protocol has no label for that pair of texts, so it counts them all false, duplicates or not
    false_hits_other_question: int
    misses: int
    precision: float
    recall: float
    false_hit_rate: float
    lookup_ms_mean: float
    by_kind: dict[str, KindStats]


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


def _store_originals(cache: LLMCache, pairs: Sequence[Pair], namespace: str, tenant: str) -> None:
    originals = list(dict.fromkeys(p.a.strip() for p in pairs))
    for start in range(0, len(originals), CHUNK):
        texts = originals[start : start + CHUNK]
        requests = [_request(text, namespace, tenant) for text in texts]
        found = cache.lookup_many(requests)
        cache.store_many(
            [
                StoreItem(request, _answer(text), result if isinstance(result, Miss) else None)
                for text, request, result in zip(texts, requests, found, strict=True)
            ]
        )


def evaluate_pairs(
    cache: LLMCache,
    pairs: Sequence[Pair],
    *,
    namespace: str = "default",
    tenant: str = "eval",
    threshold: float | None = None,
) -> PairsReport:
    _store_originals(cache, pairs, namespace, tenant)

    correct = false = missed = identical = other = 0
    by_kind: dict[str, KindStats] = {}
    started = time.perf_counter()
    for start in range(0, len(pairs), CHUNK):
        batch = pairs[start : start + CHUNK]
        results = cache.lookup_many([_request(p.b, namespace, tenant) for p in batch], threshold=threshold)
        for pair, result in zip(batch, results, strict=True):
            stats = by_kind.setdefault(pair.kind or ("positive" if pair.label else "negative"), KindStats())
            stats.pairs += 1
            if isinstance(result, Miss):
                missed += pair.label == 1
                continue
            stats.hits += 1
            if pair.label == 1 and result.entry.prompt_text == pair.a.strip():
                correct += 1
            else:
                false += 1
                stats.false_hits += 1
                identical += result.entry.prompt_text == pair.b.strip()
                other += result.entry.prompt_text != pair.a.strip()
    elapsed_ms = (time.perf_counter() - started) * 1000
    positives = sum(p.label == 1 for p in pairs)
    negatives = len(pairs) - positives
    negative_false = sum(s.false_hits for k, s in by_kind.items() if k != "positive")
    return PairsReport(
        n=len(pairs),
        positives=positives,
        negatives=negatives,
        correct_hits=correct,
        false_hits=false,
        false_hits_identical_text=identical,
        false_hits_other_question=other,
        misses=missed,
        precision=correct / (correct + false) if correct + false else 1.0,
        recall=correct / positives if positives else 0.0,
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


GuardMode = Literal["cosine", "rules", "rules+verifier"]


class Setting(BaseModel):
    model_config = ConfigDict(frozen=True)

    floor: float
    mode: GuardMode
    veto_below: float | None = None
    rescue_above: float | None = None

    def describe(self) -> str:
        text = f"floor {self.floor:.2f}"
        if self.mode == "rules+verifier" and self.veto_below is not None and self.rescue_above is not None:
            text += f", verifier veto below {self.veto_below:g}, rescue from {self.rescue_above:g}"
        return text

    def thresholds(self) -> VerifierThresholds | None:
        if self.mode != "rules+verifier" or self.veto_below is None or self.rescue_above is None:
            return None
        return VerifierThresholds(veto_below=self.veto_below, rescue_above=self.rescue_above)


class SweepRow(BaseModel):
    setting: Setting
    precision: float
    recall: float
    false_hit_rate: float
    hits: int
    correct_hits: int
    false_hits: int


@dataclass(frozen=True)
class Judged:
    """One candidate, judged once by the rules and scored once by the verifier, for any setting to reuse."""

    cosine: float
    identical: bool
    ruled: Verdict
    verifier_score: float | None

    def allowed(self, mode: GuardMode, thresholds: VerifierThresholds | None) -> bool:
        """`thresholds` is the setting's (None: the rules alone), computed once for a whole table."""
        if self.identical or mode == "cosine":
            return True
        if thresholds is None or self.verifier_score is None:
            return self.ruled.allowed
        return decide(self.ruled, self.verifier_score, thresholds).allowed


def collect_candidates(
    cache: LLMCache,
    pairs: Sequence[Pair],
    *,
    namespace: str = "default",
    tenant: str = "eval",
    floor: float = 0.5,
    limit: int = 1,
) -> list[PairCandidates]:
    """Store every distinct `a`, then gather each `b`'s same-context neighbours above `floor` once, so that any
    threshold and guard setting can be scored without searching again."""
    _store_originals(cache, pairs, namespace, tenant)
    stored = {p.a.strip() for p in pairs}
    table: list[PairCandidates] = []
    for start in range(0, len(pairs), CHUNK):
        batch = pairs[start : start + CHUNK]
        found = cache.candidates_many([_request(p.b, namespace, tenant) for p in batch], floor, limit)
        for pair, neighbours in zip(batch, found, strict=True):
            candidates = [
                Neighbour(entry.prompt_text or "", candidate.score, candidate.vector)
                for entry, candidate in neighbours.found
            ]
            if pair.b.strip() in stored:  # the exact lookup answers before any vector search
                candidates = [Neighbour(pair.b.strip(), 1.0, neighbours.query_vector)]
            table.append(PairCandidates(pair, neighbours.query_vector, candidates))
    return table


def judge(table: Sequence[PairCandidates], guard: FalseHitGuard) -> list[list[Judged]]:
    """Rules on every candidate, the verifier's score wherever the rules leave it a say."""
    judged: list[list[Judged]] = []
    for item in table:
        query = item.pair.b.strip()
        row = []
        for candidate in item.candidates:
            ruled, score = guard.assess(query, candidate.text, item.query_vector, candidate.vector)
            row.append(Judged(candidate.cosine, candidate.text == query, ruled, score))
        judged.append(row)
    return judged


def score_setting(table: Sequence[PairCandidates], judged: Sequence[Sequence[Judged]], setting: Setting) -> SweepRow:
    return score_settings(table, judged, [setting])[0]


def score_settings(
    table: Sequence[PairCandidates], judged: Sequence[Sequence[Judged]], settings: Sequence[Setting]
) -> list[SweepRow]:
    """Each setting scored over the table, as the cache would decide: the nearest candidate decides if it is above
    the floor (candidates come best first), and a guarded one means no hit."""
    positives = sum(item.pair.label == 1 for item in table)
    negatives = len(table) - positives
    # (the nearest candidate, whether serving it is a correct hit, whether the pair is a negative), once per table
    nearest = [
        (row[0], item.pair.label == 1 and item.candidates[0].text == item.pair.a.strip(), item.pair.label == 0)
        for item, row in zip(table, judged, strict=True)
        if row
    ]
    scored: list[SweepRow] = []
    for setting in settings:
        correct = false = negative_false = 0
        thresholds = setting.thresholds()
        for candidate, right, negative in nearest:
            if candidate.cosine < setting.floor or not candidate.allowed(setting.mode, thresholds):
                continue
            if right:
                correct += 1
            else:
                false += 1
                negative_false += negative
        scored.append(
            SweepRow(
                setting=setting,
                precision=correct / (correct + false) if correct + false else 1.0,
                recall=correct / positives if positives else 0.0,
                false_hit_rate=negative_false / negatives if negatives else 0.0,
                hits=correct + false,
                correct_hits=correct,
                false_hits=false,
            )
        )
    return scored


def recommend(rows: Sequence[SweepRow], target_precision: float) -> SweepRow | None:
    """The setting meeting the target precision with the most recall; on a tie, the stricter one."""
    meeting = [r for r in rows if r.precision >= target_precision and r.hits > 0]
    return max(meeting, key=_strictness) if meeting else None


def _strictness(row: SweepRow) -> tuple[float, float, float, float]:
    setting = row.setting
    return (row.recall, setting.floor, setting.veto_below or 0.0, setting.rescue_above or 0.0)
