"""`llmcache eval pairs` and `llmcache tune pairs`: the pairs protocol through the real cache core, on a private
Redis key prefix and a temporary Qdrant Edge shard that are removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

from llmcache.quality.evaluation import (
    GuardMode,
    Pair,
    PairsReport,
    Protocol,
    Setting,
    SweepRow,
    collect_candidates,
    evaluate_pairs,
    judge,
    load_pairs,
    recommend,
    score_settings,
)
from llmcache.shared.config import Settings
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.guard.pair_model import loaded_pair_model
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.policy import NamespacePolicy, VerifierThresholds
from llmcache.shared.runtime import CacheRuntime, build_runtime

FLOORS = [round(x, 2) for x in np.arange(0.50, 1.0, 0.01)]
VETOES = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]
RESCUES = [0.6, 0.7, 0.8, 0.9, 1.0]  # 1.0: no rescue
PAIR_THRESHOLDS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
PAIR_RESCUES = [0.6, 0.7, 0.8, 0.9, 1.0]  # 1.0: a soft conflict is never served


@contextmanager
def scratch_runtime(
    settings: Settings, namespace: str, policy: NamespacePolicy | None = None
) -> Iterator[CacheRuntime]:
    prefix = f"{settings.key_prefix}-eval-{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="llmcache-eval-"))
    namespaces = dict(settings.namespaces)
    if policy is not None:
        namespaces[namespace] = policy
    scratch = settings.model_copy(update={"key_prefix": prefix, "data_dir": data_dir, "namespaces": namespaces})
    scratch.qdrant = scratch.qdrant.model_copy(update={"url": None, "location": None, "edge_path": None})
    runtime = build_runtime(scratch)
    try:
        yield runtime
    finally:
        runtime.close()
        client = redis.Redis.from_url(settings.redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.delete(*keys[start : start + 5000])
        shutil.rmtree(data_dir, ignore_errors=True)


def eval_pairs(
    settings: Settings,
    path: Path,
    namespace: str,
    *,
    threshold: float | None = None,
    guard: bool = True,
    verifier: bool = True,
    pair_model: bool = True,
    protocol: Protocol = "retrieval",
) -> tuple[PairsReport, float]:
    """The report, and the guard's mean cost per verified candidate in microseconds (rules and judge)."""
    pairs = load_pairs(path)
    base = settings.policy(namespace)
    changes = {"guard": guard, "verifier": verifier and base.verifier, "pair_model": pair_model and base.pair_model}
    policy = base.model_copy(update=changes | ({"similarity_threshold": threshold} if threshold else {}))
    with scratch_runtime(settings, namespace, policy) as runtime:
        report = evaluate_pairs(runtime.cache, pairs, namespace=namespace, protocol=protocol)
    return report, guard_cost_us(pairs, policy)


def guard_cost_us(pairs: list[Pair], policy: NamespacePolicy) -> float:
    """Timed on the file's own texts, one candidate at a time (the single-lookup path); random unit vectors cost
    the learned verifier exactly what real ones do."""
    checker = FalseHitGuard(verifier=LearnedVerifier(), pair_model=loaded_pair_model() if policy.pair_model else None)
    thresholds = policy.verifier_thresholds() or VerifierThresholds(veto_below=0.0, rescue_above=1.0)
    sample = pairs[:300] if policy.pair_model else pairs[:2000]
    vectors = np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    checker.verify("warm up", "warm-up", query_vector=vectors[0], cached_vector=vectors[1], thresholds=thresholds)
    started = time.perf_counter()
    for pair in sample:
        # the trailing space defeats the identical-text shortcut
        checker.verify(pair.b, pair.a + " ", query_vector=vectors[0], cached_vector=vectors[1], thresholds=thresholds)
    return (time.perf_counter() - started) / max(len(sample), 1) * 1e6


@dataclass(frozen=True)
class TuneResult:
    by_floor: dict[GuardMode, list[SweepRow]]  # the namespace's verifier thresholds in the verifier curve
    grid: list[SweepRow]  # every floor, veto and rescue threshold, with the guard's both stages
    chosen: SweepRow | None
    cosine_best: SweepRow | None


def tune_pairs(
    settings: Settings, path: Path, namespace: str, target_precision: float, protocol: Protocol = "retrieval"
) -> TuneResult:
    pairs = load_pairs(path)
    policy = settings.policy(namespace)
    with scratch_runtime(settings, namespace) as runtime:
        # the nearest candidate alone decides in the cache (a guarded one means a miss), so it alone is judged
        table = collect_candidates(
            runtime.cache, pairs, namespace=namespace, floor=min(FLOORS), limit=1, protocol=protocol
        )
        judged = judge(table, runtime.guard)
    veto, rescue = policy.verifier_veto_below, policy.verifier_rescue_above
    by_floor: dict[GuardMode, list[SweepRow]] = {
        "cosine": score_settings(table, judged, [Setting(floor=f, mode="cosine") for f in FLOORS]),
        "rules": score_settings(table, judged, [Setting(floor=f, mode="rules") for f in FLOORS]),
        "rules+verifier": score_settings(
            table,
            judged,
            [Setting(floor=f, mode="rules+verifier", veto_below=veto, rescue_above=rescue) for f in FLOORS],
        ),
    }
    everything = [
        Setting(floor=f, mode="rules+verifier", veto_below=v, rescue_above=r)
        for f in FLOORS
        for v in VETOES
        for r in RESCUES
    ]
    if runtime.guard.pair_model is not None:
        accept, rescue_pair = policy.pair_accept_above, policy.pair_rescue_above
        by_floor["rules+pair"] = score_settings(
            table,
            judged,
            [
                Setting(floor=f, mode="rules+pair", pair_accept_above=accept, pair_rescue_above=rescue_pair)
                for f in FLOORS
            ],
        )
        everything += [
            Setting(floor=f, mode="rules+pair", pair_accept_above=t, pair_rescue_above=r)
            for f in FLOORS
            for t in PAIR_THRESHOLDS
            for r in PAIR_RESCUES
        ]
    grid = score_settings(table, judged, everything)
    return TuneResult(
        by_floor, grid, recommend(grid, target_precision), recommend(by_floor["cosine"], target_precision)
    )


def plot(result: TuneResult, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5), dpi=110)
    curves: tuple[tuple[GuardMode, str, str], ...] = (
        ("cosine", "cosine only", ":"),
        ("rules", "cosine + rules", "--"),
        ("rules+verifier", "cosine + rules + verifier", "-"),
        ("rules+pair", "cosine + rules + pair model", "-"),
    )
    for mode, label, style in curves:
        rows = result.by_floor.get(mode, [])
        if not rows:
            continue
        axis.plot([r.recall for r in rows], [r.precision for r in rows], style, marker=".", label=label)
    chosen = result.chosen
    if chosen is not None:
        axis.scatter([chosen.recall], [chosen.precision], s=140, facecolors="none", edgecolors="red", linewidths=2,
                     label=f"chosen: {chosen.setting.describe()}",
                     zorder=5)  # fmt: skip
    axis.set_xlabel("recall on positives")
    axis.set_ylabel("precision of hits")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.set_title(title)
    axis.legend(loc="lower left")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
