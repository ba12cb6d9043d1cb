"""The pairs protocol (GPTCache's benchmark): store every distinct `a` with its own answer through the real cache
core, look up every `b`. A hit returning the answer of its own pair's `a` on a label-1 pair is correct; any other
hit is a false hit; no hit on a label-1 pair is a miss."""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.cache import LLMCache, StoreItem
from shared.errors import InvalidRequestError
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


def evaluate_pairs(
    cache: LLMCache,
    pairs: Sequence[Pair],
    *,
    namespace: str = "default",
    tenant: str = "eval",
    threshold: float | None = None,
) -> PairsReport:
    originals = list(dict.fromkeys(p.a for p in pairs))
    for start in range(0, len(originals), CHUNK):
        requests = [_request(text, namespace, tenant) for text in originals[start : start + CHUNK]]
        cache.store_many(
            [
                StoreItem(request, _answer(text), result if isinstance(result, Miss) else None)
                for text, request, result in zip(
                    originals[start : start + CHUNK], requests, cache.lookup_many(requests), strict=True
                )
            ]
        )

    correct = false = missed = 0
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
        misses=missed,
        precision=correct / (correct + false) if correct + false else 1.0,
        recall=correct / positives if positives else 0.0,
        false_hit_rate=negative_false / negatives if negatives else 0.0,
        lookup_ms_mean=elapsed_ms / max(len(pairs), 1),
        by_kind=by_kind,
    )
