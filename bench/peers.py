"""llmcache against its peers, same machine, same embedder (all-MiniLM-L6-v2 via onnxruntime), same data, same run:
the naive design most tutorials show (Redis SCAN + GET + cosine in Python), GPTCache (sqlite + faiss, our embedding
function, max_size raised; the `bench` extra), and llmcache single (`lookup`) and batched (`lookup_many`). RedisVL's
SemanticCache needs a Redis with vector search (RediSearch >= 2.4); none runs here: say so, do not fake it.

Data: Quora pairs (../shared/data/qqp_pairs_val.jsonl.gz, retrieval protocol): every distinct `a` is stored, filled
up to the size with other Quora questions, and a sample of pairs' `b` is looked up, the engines interleaved query by
query so that the machine's noise falls on all of them alike. A hit is correct when it serves the pair's own `a`
on a label-1 pair or the very text asked; any other hit is false (strict). Every peer uses llmcache's cosine floor
for the namespace (GPTCache's faiss distance converted to it). Latency includes embedding the query.

`python bench/peers.py --quick` (1k and 10k entries, `make bench-quick`, a few minutes) or without --quick (adds 100k,
needs the training file too). Writes the peers section of docs/benchmarks.md and docs/img/peers-latency.png.
Skips (exit 0, a message) when ../shared/data is absent."""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_DATA, machine_line, quiet_logging, write_section
from llmcache.shared.cache import StoreItem
from llmcache.shared.config import load_settings
from llmcache.shared.embedding.minilm import MiniLMEmbedder
from llmcache.shared.models import CacheRequest, Completion, Miss
from llmcache.shared.runtime import build_runtime

NAMESPACE = "default"
IMAGE = Path(__file__).resolve().parents[1] / "docs" / "img" / "peers-latency.png"


@dataclass
class Pair:
    a: str
    b: str
    label: int


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    hits: int = 0
    correct: int = 0
    positives: int = 0
    correct_on_positives: int = 0

    def judge(self, pair: Pair, served: str | None, seconds: float) -> None:
        self.latencies.append(seconds)
        self.positives += pair.label
        if served is None:
            return
        self.hits += 1
        right = served == pair.b or (served == pair.a and pair.label == 1)
        self.correct += right
        self.correct_on_positives += right and pair.label == 1

    def row(self) -> dict[str, float]:
        values = np.asarray(self.latencies) * 1000
        return {
            "p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
            "per_s": len(values) / float(np.sum(values) / 1000), "precision": self.correct / self.hits if self.hits else
            float("nan"), "recall": self.correct_on_positives / self.positives if self.positives else float("nan"),
            "lookups": float(len(values)),
        }  # fmt: skip


def read_pairs(path: Path) -> list[Pair]:
    with gzip.open(path, "rt") as handle:
        return [Pair(**{k: v for k, v in json.loads(line).items() if k in ("a", "b", "label")}) for line in handle]


def corpus_for(size: int, queries: list[Pair], filler: Iterable[str]) -> list[str]:
    """The queries' `a` first, then other questions, distinct, never one of the looked-up `b`."""
    asked = {p.b for p in queries}
    out: dict[str, None] = dict.fromkeys(p.a for p in queries)
    for text in filler:
        if len(out) >= size:
            break
        if text not in asked:
            out.setdefault(text, None)
    return list(out)[:size]


class NaiveRedis:
    """What most tutorials show: every entry a JSON value with its vector; a lookup SCANs, GETs and compares all."""

    name = "naive Redis SCAN+GET+cosine"

    def __init__(self, client: redis.Redis, embed: Callable[[str], np.ndarray], floor: float) -> None:
        self._redis, self._embed, self._floor = client, embed, floor
        self._prefix = f"llmcache-bench-naive-{uuid.uuid4().hex[:8]}"

    def load(self, texts: list[str], vectors: np.ndarray) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            pipe.set(f"{self._prefix}:{i}", json.dumps({"q": text, "a": text, "v": vector.tolist()}))
        pipe.execute()

    def lookup(self, text: str) -> str | None:
        query = self._embed(text)
        best, best_score = None, -1.0
        for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000):
            raw = self._redis.get(key)
            if raw is None:
                continue
            entry = json.loads(raw)
            vector = np.asarray(entry["v"], dtype=np.float32)
            score = float(vector @ query / (np.linalg.norm(vector) * np.linalg.norm(query)))
            if score > best_score:
                best, best_score = entry["a"], score
        return best if best_score >= self._floor else None

    def close(self) -> None:
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self._redis.delete(*keys[start : start + 1000])


class GPTCachePeer:
    """GPTCache 0.1.x: sqlite scalar store + faiss (IndexFlatL2), our embedding function, max_size raised."""

    name = "GPTCache (sqlite + faiss)"

    def __init__(self, embed: Callable[[str], np.ndarray], floor: float, folder: Path, max_size: int) -> None:
        from gptcache import Cache, Config  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from gptcache.manager import manager_factory  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from gptcache.processor.pre import get_prompt  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation  # type: ignore[import-untyped,import-not-found,unused-ignore]

        # the memory eviction reads its size from eviction_params only (manager_factory's max_size is not passed on):
        # left at its default, GPTCache keeps 1,000 entries and evicts the rest
        self._manager = manager_factory(
            "sqlite,faiss", data_dir=str(folder), vector_params={"dimension": 384},
            eviction_params={"max_size": max_size, "clean_size": max(1, max_size // 10)},
        )  # fmt: skip
        # faiss returns squared L2 = 2 - 2 cos on unit vectors; GPTCache ranks 4 - distance and keeps rank >= 4 t
        threshold = (floor + 1) / 2
        self._cache = Cache()
        self._cache.init(
            pre_embedding_func=get_prompt, embedding_func=lambda text, **_: embed(text),
            data_manager=self._manager, similarity_evaluation=SearchDistanceEvaluation(),
            config=Config(similarity_threshold=threshold),
        )  # fmt: skip

    def load(self, texts: list[str], vectors: np.ndarray) -> None:
        from gptcache.manager.scalar_data.base import Answer, DataType  # type: ignore[import-untyped,import-not-found,unused-ignore]

        for start in range(0, len(texts), 1000):
            chunk = texts[start : start + 1000]
            self._manager.import_data(
                chunk,
                [Answer(t, DataType.STR) for t in chunk],
                list(vectors[start : start + 1000]),
                [None] * len(chunk),
            )

    def lookup(self, text: str) -> str | None:
        from gptcache.adapter.api import get  # type: ignore[import-untyped,import-not-found,unused-ignore]

        found = get(text, cache_obj=self._cache)
        return str(found) if found is not None else None

    def close(self) -> None:
        self._manager.close()


class LLMCachePeer:
    """llmcache on its embedded default (Qdrant Edge shard), real Redis under a private prefix, the guard on."""

    def __init__(self, redis_url: str, folder: Path, embedder: MiniLMEmbedder) -> None:
        self._prefix = f"llmcache-bench-peers-{uuid.uuid4().hex[:8]}"
        settings = load_settings(redis_url=redis_url, key_prefix=self._prefix, data_dir=folder)
        self.floor = settings.namespaces[NAMESPACE].similarity_threshold
        self.runtime = build_runtime(settings, embedder=embedder)

    @staticmethod
    def request(text: str) -> CacheRequest:
        return CacheRequest.model_validate(
            {"provider": "openai", "model": "gpt-4o-mini", "namespace": NAMESPACE, "scope": {"tenant": "bench"},
             "messages": [{"role": "user", "content": text}]}
        )  # fmt: skip

    def load(self, texts: list[str], vectors: np.ndarray) -> None:
        cache = self.runtime.cache
        for start in range(0, len(texts), 512):
            items = []
            for text, vector in zip(texts[start : start + 512], vectors[start : start + 512], strict=True):
                request = self.request(text)
                miss = cache.miss_for(request).model_copy(update={"embedding": vector})
                answer = Completion(provider="openai", model="gpt-4o-mini", text=text, finish_reason="stop")
                items.append(StoreItem(request, answer, miss))
            cache.store_many(items)

    def lookup(self, text: str) -> str | None:
        return self._served(self.runtime.cache.lookup(self.request(text)))

    def lookup_many(self, texts: list[str]) -> list[str | None]:
        return [self._served(r) for r in self.runtime.cache.lookup_many([self.request(t) for t in texts])]

    @staticmethod
    def _served(result: Any) -> str | None:
        return None if isinstance(result, Miss) else str(result.entry.completion.text)

    def close(self) -> None:
        self.runtime.close()
        client = self.runtime.redis
        keys = list(client.scan_iter(match=f"{self._prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def run_size(
    size: int, queries: list[Pair], filler: list[str], embedder: MiniLMEmbedder, redis_url: str, naive_lookups: int
) -> dict[str, dict[str, float]]:
    texts = corpus_for(size, queries, filler)
    print(f"[{size}] embedding {len(texts)} stored questions once for every engine ...", flush=True)
    vectors = embedder.embed_batch(texts)
    folder = Path(tempfile.mkdtemp(prefix="llmcache-peers-"))
    # GPTCache flushes its faiss index at exit: remove the folder after that (atexit runs last-registered first)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    client = redis.Redis.from_url(redis_url)
    llmcache = LLMCachePeer(redis_url, folder / "llmcache", embedder)
    naive = NaiveRedis(client, embedder.embed, llmcache.floor)
    engines: list[Any] = [naive, llmcache]
    try:
        gpt: GPTCachePeer | None = GPTCachePeer(embedder.embed, llmcache.floor, folder / "gptcache", size * 2)
        engines.insert(1, gpt)
    except ImportError as error:
        print(f"GPTCache not run: {error} (pip install -e '.[bench]')", flush=True)
        gpt = None
    tallies: dict[str, Tally] = {name: Tally() for name in ("naive", "gptcache", "single", "batched")}
    try:
        for engine in engines:
            engine.load(texts, vectors)
        for i, pair in enumerate(queries):  # interleaved: each query through every engine in turn
            for key, lookup in (("naive", naive.lookup), ("gptcache", gpt.lookup if gpt else None),
                                ("single", llmcache.lookup)):  # fmt: skip
                if lookup is None or (key == "naive" and i >= naive_lookups):
                    continue
                started = time.perf_counter()
                served = lookup(pair.b)
                tallies[key].judge(pair, served, time.perf_counter() - started)
        for start in range(0, len(queries), 64):
            chunk = queries[start : start + 64]
            started = time.perf_counter()
            served_many = llmcache.lookup_many([p.b for p in chunk])
            each = (time.perf_counter() - started) / len(chunk)
            for pair, served in zip(chunk, served_many, strict=True):
                tallies["batched"].judge(pair, served, each)
    finally:
        for engine in engines:
            engine.close()
    return {key: tally.row() for key, tally in tallies.items() if tally.latencies}


LABELS = {
    "naive": "naive Redis SCAN+GET+cosine",
    "gptcache": "GPTCache 0.1.44 (sqlite + faiss)",
    "single": "llmcache `lookup`",
    "batched": "llmcache `lookup_many` (64)",
}


def report(results: dict[int, dict[str, dict[str, float]]], floor: float, lookups: int, machine: str) -> str:
    sizes = sorted(results)
    lines = [
        "## Peers (`bench/peers.py`)",
        "",
        f"{machine}. Same embedder (all-MiniLM-L6-v2, onnxruntime), Quora pairs (qqp_pairs_val, retrieval",
        f"protocol, {lookups} lookups of `b` per size, interleaved query by query), cosine floor {floor} for every",
        "engine (llmcache's `default` namespace; llmcache adds its false-hit guard). Latency per lookup includes",
        "embedding the query; batched: wall time of a 64-lookup `lookup_many` call divided by 64. Precision is strict",
        "(a hit on any other stored question counts false). RedisVL SemanticCache: not run, no Redis with vector",
        "search here (the shared Redis 7.0 has no modules; Debian's redis-redisearch is 1.2, without vectors).",
        "",
        "| engine | "
        + " | ".join(f"{s:,} entries: p50 / p99 ms, lookups/s" for s in sizes)
        + " | precision / recall |",
        "| --- | " + " | ".join("---" for _ in sizes) + " | --- |",
    ]
    for key, label in LABELS.items():
        cells = []
        quality = ""
        for size in sizes:
            row = results[size].get(key)
            if row is None:
                cells.append("not run")
                continue
            cells.append(f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f}, {row['per_s']:.0f}/s (n={int(row['lookups'])})")
            quality = f"{row['precision']:.2f} / {row['recall']:.2f} (at {size:,})"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {quality} |")
    biggest = results[sizes[-1]]
    if "single" in biggest:
        peers = [biggest[k]["p50_ms"] for k in ("naive", "gptcache") if k in biggest]
        if peers:
            fastest = min(peers)
            single = fastest / biggest["single"]["p50_ms"]
            batched = biggest["batched"]["per_s"] / (1000 / fastest)
            lines += ["", f"At {sizes[-1]:,} entries the fastest peer's p50 is {single:.2f}x llmcache single's; "
                      f"llmcache batched serves {batched:.1f}x the fastest peer's lookups per second."]  # fmt: skip
    return "\n".join(lines)


def plot(results: dict[int, dict[str, dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for key, label in LABELS.items():
        points = [(s, results[s][key]["p50_ms"], results[s][key]["p99_ms"]) for s in sizes if key in results[s]]
        if points:
            xs, p50, p99 = zip(*points, strict=True)
            line = axis.plot(xs, p50, marker="o", label=f"{label.replace('`', '')} p50")[0]
            axis.plot(xs, p99, marker=".", linestyle="--", color=line.get_color(), alpha=0.6)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("entries in the cache")
    axis.set_ylabel("ms per lookup (solid p50, dashed p99)")
    axis.set_title("Lookup latency against entries, same embedder, Quora pairs")
    axis.legend(fontsize=7)
    axis.grid(True, which="both", alpha=0.3)
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(IMAGE, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1k and 10k entries (make bench-quick)")
    parser.add_argument("--lookups", type=int, default=200, help="pairs looked up per size")
    parser.add_argument("--naive-lookups", type=int, default=40, help="lookups of the naive design at 1k entries "
                        "(fewer in proportion above: each one reads every entry)")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--sizes", help="comma-separated entry counts, instead of the defaults")
    parser.add_argument("--from-json", type=Path, help="rewrite the docs from a run's saved results (--save-json)")
    parser.add_argument("--save-json", type=Path, help="also save the results as JSON")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        loaded = {int(size): rows for size, rows in saved["results"].items()}
        text = report(loaded, saved["floor"], saved["lookups"], saved["machine"])
        write_section("peers", text + "\n\n![lookup latency against entries](img/peers-latency.png)")
        plot(loaded)
        print(text)
        return 0
    val = SHARED_DATA / "qqp_pairs_val.jsonl.gz"
    if not val.is_file():
        print(f"bench/peers.py: skipped: {val} is absent (the shared data folder is not part of a clone)")
        return 0
    quiet_logging()
    pairs = read_pairs(val)
    rng = np.random.default_rng(14)
    queries = [pairs[i] for i in rng.choice(len(pairs), size=args.lookups, replace=False)]
    filler = [t for p in pairs for t in (p.a, p.b)]
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    train = SHARED_DATA / "qqp_pairs_train.jsonl.gz"
    if not args.quick and train.is_file():
        filler += [t for p in read_pairs(train) for t in (p.a, p.b)]
    embedder = MiniLMEmbedder()
    embedder.embed("warm up")
    settings = load_settings()
    results: dict[int, dict[str, dict[str, float]]] = {}
    started = time.monotonic()
    for size in sizes:
        naive = max(5, args.naive_lookups * 1000 // size)
        results[size] = run_size(size, queries, filler, embedder, settings.redis_url, min(naive, args.lookups))
        print(json.dumps({str(size): results[size]}, indent=1), flush=True)
    floor = settings.namespaces[NAMESPACE].similarity_threshold
    text = report(results, floor, args.lookups, machine_line())
    if args.save_json:
        args.save_json.write_text(
            json.dumps({"results": results, "floor": floor, "lookups": args.lookups, "machine": machine_line()})
        )
    print(text)
    print(f"({time.monotonic() - started:.0f} s)")
    if not args.no_write:
        write_section("peers", text + "\n\n![lookup latency against entries](img/peers-latency.png)")
        plot(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
