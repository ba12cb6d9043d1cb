"""Lookup latency (embedding included) by outcome at 1k / 10k / 100k stored entries.

Engines: Qdrant Edge (embedded default, shard on disk) at every size, and the Qdrant server adapter over
qdrant-client's ":memory:" mode at 1k / 10k (brute force: it shows why it is not the default).

Workload: the 999 `a` sentences of paraphrase_positives are stored with their real MiniLM vectors; the rest of the
entries are filler whose vectors are real MiniLM vectors of Quora questions plus Gaussian noise (embedding 100k
texts would take ~10 minutes here and measure the embedder, not the lookup). Every entry shares one context
fingerprint: the worst case for the vector search, since the context filter then excludes nothing.
Probes: stored `a` texts (exact hits: no embedding needed), their paraphrases `b` (mostly semantic hits) and
Quora validation questions (mostly misses). Latencies are grouped by the outcome each lookup actually had.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_DATA, machine_line, percentiles_ms, quiet_logging, write_section
from llmcache.shared.cache import StoreItem
from llmcache.shared.config import QdrantSettings, load_settings
from llmcache.shared.embedding.base import Embedder, Vectors, l2_normalise
from llmcache.shared.embedding.minilm import MiniLMEmbedder
from llmcache.shared.index.base import PointSelector, VectorIndex
from llmcache.shared.models import CacheRequest, Completion, Message, Scope
from llmcache.shared.request_keys import compute_keys
from llmcache.shared.runtime import build_runtime

PROBES_PER_KIND = 300
SERVER_PROBES_PER_KIND = 60  # qdrant-client's local mode filters in Python: ~60 ms a search at 1k points
CHUNK = 2000
NOISE_NORM = 0.5


class PrecomputedEmbedder:
    """Serves vectors computed up front during population; everything else goes to the real embedder."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.table: dict[str, Vectors] = {}

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def embed(self, text: str) -> Vectors:
        found = self.table.get(text)
        return found if found is not None else self.inner.embed(text)

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if all(t in self.table for t in texts):
            return np.stack([self.table[t] for t in texts]) if texts else self.inner.embed_batch([])
        return self.inner.embed_batch(texts)


@dataclass(frozen=True)
class BenchRow:
    engine: str
    size: int
    populate_s: float
    optimize_s: float
    search: tuple[float, float]
    outcomes: dict[str, tuple[int, float, float]]

    def cells(self) -> str:
        cells = []
        for kind in ("exact", "semantic", "miss"):
            n, p50, p99 = self.outcomes.get(kind, (0, float("nan"), float("nan")))
            cells += [str(n), f"{p50:.2f} / {p99:.2f}"]
        cells += [f"{self.search[0]:.2f} / {self.search[1]:.2f}", f"{self.populate_s:.1f}", f"{self.optimize_s:.1f}"]
        engine_name = "Qdrant Edge (embedded)" if self.engine == "edge" else "Qdrant client `:memory:`"
        return f"| {engine_name} | {self.size:,} | {' | '.join(cells)} |"


def request(text: str) -> CacheRequest:
    return CacheRequest(
        provider="openai",
        model="gpt-4o-mini",
        system="You are the support assistant of Acme Cloud.",
        messages=[Message(role="user", content=text)],
        namespace="faq",
        scope=Scope(tenant="acme"),
    )


def completion(text: str) -> Completion:
    return Completion(provider="openai", model="gpt-4o-mini", text=f"answer: {text[:40]}", finish_reason="stop")


def load_texts() -> tuple[list[tuple[str, str]], list[str], list[str]]:
    pairs = [json.loads(line) for line in (SHARED_DATA / "paraphrase_positives.jsonl").open()]
    anchors = list({p["a"]: (p["a"], p["b"]) for p in pairs}.values())  # distinct stored texts
    with gzip.open(SHARED_DATA / "qqp_pairs_train.jsonl.gz", "rt") as handle:
        basis = list(dict.fromkeys(json.loads(line)["a"] for line in handle))[:3000]
    with gzip.open(SHARED_DATA / "qqp_pairs_val.jsonl.gz", "rt") as handle:
        unrelated = list(dict.fromkeys(json.loads(line)["b"] for line in handle))[:PROBES_PER_KIND]
    return anchors, basis, unrelated


def run_one(
    engine: str,
    size: int,
    embedder: PrecomputedEmbedder,
    anchors: list[tuple[str, str]],
    anchor_vectors: Vectors,
    basis_vectors: Vectors,
    unrelated: list[str],
    rng: np.random.Generator,
) -> BenchRow:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    qdrant = QdrantSettings(location=":memory:", collection=prefix) if engine == "server" else QdrantSettings()
    data_dir = Path(tempfile.mkdtemp(prefix="llmcache-bench-"))
    settings = load_settings(key_prefix=prefix, data_dir=data_dir, qdrant=qdrant)
    runtime = build_runtime(settings, embedder=embedder)
    cache = runtime.cache
    try:
        embedder.table = {a: v for (a, _), v in zip(anchors, anchor_vectors, strict=True)}
        filler_count = size - len(anchors)
        started = time.perf_counter()
        for start in range(0, filler_count, CHUNK):
            count = min(CHUNK, filler_count - start)
            picks = basis_vectors[rng.integers(0, len(basis_vectors), count)]
            # noise of norm ~0.5: each filler sits at cosine ~0.9 from a real question, like a cache's near-duplicates
            noise = rng.normal(0, NOISE_NORM / np.sqrt(picks.shape[1]), picks.shape)
            noisy = l2_normalise((picks + noise).astype(np.float32))
            texts = [f"filler question {start + i}" for i in range(count)]
            embedder.table.update(zip(texts, noisy, strict=True))
            cache.store_many([StoreItem(request(t), completion(t)) for t in texts])
            for text in texts:
                del embedder.table[text]
        cache.store_many([StoreItem(request(a), completion(a)) for a, _ in anchors])
        populate_s = time.perf_counter() - started
        started = time.perf_counter()
        runtime.index.optimize()
        optimize_s = time.perf_counter() - started
        embedder.table = {}
        assert runtime.index.count() == size, (runtime.index.count(), size)

        per_kind = PROBES_PER_KIND if engine == "edge" else SERVER_PROBES_PER_KIND
        probes = (
            [a for a, _ in random.Random(1).sample(anchors, per_kind)]
            + [b for _, b in random.Random(2).sample(anchors, per_kind)]
            + unrelated[:per_kind]
        )
        for text in probes[:20]:
            cache.lookup(request(text))  # warm-up
        by_kind: dict[str, list[float]] = defaultdict(list)
        for text in probes:
            t0 = time.perf_counter()
            result = cache.lookup(request(text))
            by_kind[result.kind.value].append(time.perf_counter() - t0)
        return BenchRow(
            engine=engine,
            size=size,
            populate_s=populate_s,
            optimize_s=optimize_s,
            search=percentiles_ms(search_only(runtime.index, embedder.inner, probes[per_kind:])),
            outcomes={k: (len(v), *percentiles_ms(v)) for k, v in by_kind.items()},
        )
    finally:
        keys = list(runtime.redis.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(keys), 5000):
            runtime.redis.delete(*keys[start : start + 5000])
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def search_only(index: VectorIndex, embedder: Embedder, texts: list[str]) -> list[float]:
    """The vector search alone, with the filter a lookup sends (vectors computed beforehand)."""
    vectors = embedder.embed_batch(texts)
    keys = compute_keys(request(texts[0]), "1", user_scoped=False)
    selector = PointSelector(context_fp=keys.context_fp, expires_after=time.time())
    samples = []
    for vector in vectors:
        t0 = time.perf_counter()
        index.search(vector, selector, 0.88, 4)
        samples.append(time.perf_counter() - t0)
    return samples


def embed_latency(embedder: Embedder, texts: list[str]) -> tuple[float, float]:
    samples = []
    for text in texts:
        t0 = time.perf_counter()
        embedder.embed(text)
        samples.append(time.perf_counter() - t0)
    return percentiles_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edge-sizes", default="1000,10000,100000")
    parser.add_argument("--server-sizes", default="1000,10000")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    quiet_logging()
    redis.Redis().ping()

    inner = MiniLMEmbedder()
    embedder = PrecomputedEmbedder(inner)
    anchors, basis, unrelated = load_texts()
    print(f"embedding {len(anchors)} anchors and {len(basis)} basis questions ...", flush=True)
    anchor_vectors = inner.embed_batch([a for a, _ in anchors])
    basis_vectors = inner.embed_batch(basis)
    embed_p50, embed_p99 = embed_latency(inner, [b for _, b in anchors[:300]])
    short_p50, short_p99 = embed_latency(inner, unrelated)

    rows = []
    plan = [("edge", int(s)) for s in args.edge_sizes.split(",") if s] + [
        ("server", int(s)) for s in args.server_sizes.split(",") if s
    ]
    for engine, size in plan:
        print(f"{engine} {size} ...", flush=True)
        row = run_one(
            engine, size, embedder, anchors, anchor_vectors, basis_vectors, unrelated, np.random.default_rng(7)
        )
        print(row, flush=True)
        rows.append(row)

    lines = [
        "## Lookup latency (`bench/lookup.py`)",
        "",
        f"Measured {machine_line()}.",
        "",
        "p50 / p99 in ms of one `LLMCache.lookup` (Redis round trips, embedding of the last user message and the",
        "filtered vector search included), grouped by the outcome each lookup had; n is the number of lookups.",
        "Every stored entry shares one context fingerprint (the worst case for the search). Exact hits need no",
        "embedding. Edge: HNSW built by `optimize()` after loading (the maintenance sweep calls it in service).",
        '"search only" is the filtered vector search alone on 600 precomputed probe vectors.',
        "",
        "| engine | entries | exact n | exact p50 / p99 | semantic n | semantic p50 / p99 | miss n | miss p50 / p99 "
        "| search only p50 / p99 | load s | optimize s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [row.cells() for row in rows]
    lines += [
        "",
        f"Embedding alone (MiniLM, ONNX, 2 intra-op threads), single query: paraphrase sentences p50 {embed_p50:.2f} /"
        f" p99 {embed_p99:.2f} ms; short Quora questions p50 {short_p50:.2f} / p99 {short_p99:.2f} ms.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("lookup", body)


if __name__ == "__main__":
    main()
