"""Sizing figures for README "Scaling out": Redis bytes and Qdrant (Edge shard) bytes per cached entry, CPU per
1,000 embeddings and lookups, and the RSS of a real `llmcache worker` with its model loaded. Real Redis
(LLMCACHE_REDIS_URL, a private key prefix, removed afterwards), the real embedder, an Edge shard in a temp dir.
`python bench/sizing.py [--entries N]`; prints markdown tables."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmcache.shared.cache import StoreItem
from llmcache.shared.config import load_settings
from llmcache.shared.models import CacheRequest, Completion, Usage
from llmcache.shared.runtime import build_runtime

TOPICS = ["password", "invoice", "API key", "data export", "team member", "billing address", "SSO", "webhook"]
ACTIONS = ["reset", "change", "download", "rotate", "delete", "add", "configure", "audit"]
ANSWER = "To do this, open Settings, choose the section, follow the three steps shown and confirm by e-mail. " * 3


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def _request(i: int, paraphrase: bool = False) -> CacheRequest:
    text = f"How do I {ACTIONS[i % 8]} the {TOPICS[(i // 8) % 8]} of workspace {i}?"
    if paraphrase:
        text = f"how can I {ACTIONS[i % 8]} the {TOPICS[(i // 8) % 8]} of workspace {i}"
    return CacheRequest.model_validate(
        {"provider": "openai", "model": "gpt-4o-mini", "namespace": "faq", "scope": {"tenant": "sizing"},
         "system": "You are Acme's support assistant.", "messages": [{"role": "user", "content": text}]}
    )  # fmt: skip


def worker_rss(redis_url: str) -> str:
    """RSS of `llmcache worker --pool threads --concurrency 16` once it answers a ping and has pre-warmed."""
    from llmcache.workers.app import create_app

    prefix = f"llmcache-sizing-{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp(prefix="llmcache-sizing-worker-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_")}
    env.update({"LLMCACHE_REDIS_URL": redis_url, "LLMCACHE_KEY_PREFIX": prefix, "LLMCACHE_DATA_DIR": str(data),
                "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
    command = [
        sys.executable,
        "-m",
        "llmcache.workers.cli",
        "worker",
        "--queues",
        "llm,maintenance",
        "--concurrency",
        "16",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = create_app(load_settings(redis_url=redis_url, key_prefix=prefix, data_dir=data))
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not app.control.ping(timeout=1.0):
            pass
        time.sleep(5)  # the model loads on worker_ready, after the first ping can be answered
        status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        fields = {line.split(":")[0]: line.split(":")[1].strip() for line in status if line.startswith("Vm")}
        return f"worker RSS {fields['VmRSS']} (peak {fields['VmHWM']})"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def embedding_cpu(texts: list[str]) -> list[str]:
    from llmcache.shared.embedding.minilm import MiniLMEmbedder

    lines = []
    for threads in (1, 2):
        embedder = MiniLMEmbedder(intra_op_threads=threads)
        embedder.embed("warm up")
        started = time.process_time()
        for text in texts:
            embedder.embed(text)
        single = time.process_time() - started
        started = time.process_time()
        embedder.embed_batch(texts)
        batched = time.process_time() - started
        scale = 1000 / len(texts)
        lines.append(f"| embedding, intra_op_threads={threads} | {single * scale:.1f} CPU s per 1,000 one at a time "
                     f"| {batched * scale:.1f} CPU s per 1,000 batched |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    print(worker_rss(load_settings().redis_url))
    print("| figure | single | batched |")
    print("| --- | --- | --- |")
    print("\n".join(embedding_cpu([_request(i).messages[-1].content for i in range(1000)])))  # type: ignore[misc]
    prefix = f"llmcache-sizing-{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp(prefix="llmcache-sizing-"))
    settings = load_settings(key_prefix=prefix, data_dir=data)
    runtime = build_runtime(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        runtime.embedder.embed("warm up")
        completion = Completion(provider="openai", model="gpt-4o-mini", text=ANSWER, finish_reason="stop",
                                usage=Usage(input_tokens=40, output_tokens=80), cost_usd=0.0001)  # fmt: skip
        half = args.entries // 2
        points: list[tuple[int, int, int, int]] = []  # entries, Redis bytes, shard bytes, RSS bytes
        store_cpu = 0.0
        for begin, end in ((0, half), (half, args.entries)):
            started = time.process_time()
            for start in range(begin, end, 256):
                items = [StoreItem(_request(i), completion) for i in range(start, min(start + 256, end))]
                runtime.cache.store_many(items)
            store_cpu += time.process_time() - started
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.memory_usage(key, samples=0)
            redis_bytes = sum(int(v or 0) for v in pipe.execute())
            shard_bytes = sum(p.stat().st_blocks * 512 for p in data.rglob("*") if p.is_file())  # allocated
            points.append((end, redis_bytes, shard_bytes, _rss_kb() * 1024))
        (n0, r0, s0, m0), (n1, r1, s1, m1) = points
        lookups = [_request(i, paraphrase=True) for i in range(0, args.entries, max(1, args.entries // 500))]
        runtime.cache.lookup(lookups[0])
        started = time.process_time()
        for request in lookups:
            runtime.cache.lookup(request)
        lookup_cpu = (time.process_time() - started) / len(lookups) * 1000
        answer = len(ANSWER.encode())
        print(f"entries: {args.entries}, answer text {answer} B, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        print("marginal cost of the second half (a fixed start-up cost of Redis keys, segments and WAL excluded)")
        print("| figure | per entry | per million entries |")
        print("| --- | --- | --- |")
        for label, delta in (
            ("Redis (MEMORY USAGE of every key)", (r1 - r0) / (n1 - n0)),
            ("Redis, less the answer text", (r1 - r0) / (n1 - n0) - answer),
            ("Qdrant Edge shard on disk, allocated blocks (384-d float32, HNSW, payload)", (s1 - s0) / (n1 - n0)),
            ("worker RSS (Edge shard in process)", (m1 - m0) / (n1 - n0)),
        ):
            print(f"| {label} | {delta:.0f} B | {delta / 1000:.2f} GB |")
        print(f"| CPU to store (batched embedding + writes) | {store_cpu / args.entries * 1000:.2f} ms | |")
        print(f"| CPU per single lookup ({len(lookups)} paraphrases: embedding, search, guard) "
              f"| {lookup_cpu:.1f} ms | {lookup_cpu:.1f} CPU s per 1,000 lookups |")  # fmt: skip
    finally:
        runtime.close()
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
