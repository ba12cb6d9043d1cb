"""`llmcache eval pairs` and `llmcache tune pairs`: the pairs protocol through the real cache core, on a private
Redis key prefix and a temporary Qdrant Edge shard that are removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import redis

from shared.config import Settings
from shared.evaluation import (
    PairsReport,
    SweepRow,
    collect_candidates,
    evaluate_pairs,
    load_pairs,
    recommend,
    sweep,
)
from shared.guard.verifier import SpecificsGuard
from shared.policy import NamespacePolicy
from shared.runtime import CacheRuntime, build_runtime

THRESHOLDS = [round(x, 2) for x in np.arange(0.50, 1.0, 0.01)]


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
    settings: Settings, path: Path, namespace: str, threshold: float | None, guard: bool
) -> tuple[PairsReport, float]:
    """The report, and the guard's mean latency per verified candidate in microseconds."""
    pairs = load_pairs(path)
    base = settings.policy(namespace)
    policy = base.model_copy(update={"guard": guard} | ({"similarity_threshold": threshold} if threshold else {}))
    with scratch_runtime(settings, namespace, policy) as runtime:
        report = evaluate_pairs(runtime.cache, pairs, namespace=namespace)
    checker = SpecificsGuard()
    sample = pairs[:2000]
    started = time.perf_counter()
    for pair in sample:
        checker.verify(pair.b, pair.a + " ")  # the trailing space defeats the identical-text shortcut
    guard_us = (time.perf_counter() - started) / max(len(sample), 1) * 1e6
    return report, guard_us


def tune_pairs(settings: Settings, path: Path, namespace: str) -> tuple[list[SweepRow], list[SweepRow]]:
    """Rows without and with the guard, one per cosine floor in THRESHOLDS."""
    pairs = load_pairs(path)
    with scratch_runtime(settings, namespace) as runtime:
        table = collect_candidates(runtime.cache, pairs, namespace=namespace, floor=min(THRESHOLDS), limit=8)
    return sweep(table, THRESHOLDS, None), sweep(table, THRESHOLDS, SpecificsGuard())


def plot(
    rows_plain: list[SweepRow], rows_guard: list[SweepRow], chosen: SweepRow | None, title: str, out: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 5), dpi=110)
    for rows, label, style in ((rows_plain, "cosine only", "--"), (rows_guard, "cosine + guard", "-")):
        axis.plot([r.recall for r in rows], [r.precision for r in rows], style, marker=".", label=label)
    if chosen is not None:
        axis.scatter([chosen.recall], [chosen.precision], s=140, facecolors="none", edgecolors="red", linewidths=2,
                     label=f"chosen: floor {chosen.threshold:.2f}", zorder=5)  # fmt: skip
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


def recommended(rows: list[SweepRow], target: float) -> SweepRow | None:
    return recommend(rows, target)
