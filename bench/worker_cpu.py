"""The batch worker's CPU per warm exact line, in one process: what `bench/batch.py`'s two-process run cannot show
on a shared 2-core machine (the client, Redis and other load move its wall time by 2x).

It stores answers for `--stored` lines of `bench/batch.py`'s generator (the 7,440-character system prompt, three
tenants) in a fresh key prefix on `LLMCACHE_REDIS_URL`, then sends `--lines` warm exact lines, in chunks of 256,
through what a worker does for a lookup chunk: the task message's decoding as kombu does it (base64, JSON), then
`BatchWorker.lookup` (unpack, lease, parse, keys, MGET, format, metrics, result push). CPU seconds of this process
per line, over `--passes` passes after a warm-up pass. The stored lines are cycled in order, the worst case for any
memo smaller than them.

A/B across commits: check the other commit out in a worktree and put it first on the path, e.g.
`git worktree add /tmp/base HEAD~3 && AB_ROOT=/tmp/base PYTHONPATH=/tmp/base python bench/worker_cpu.py --name base`,
then `python bench/worker_cpu.py --name new`, alternating (the clients of older commits compress as Celery did).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("AB_ROOT", str(Path(__file__).resolve().parents[1])))

import redis

from bench.batch import COLD_WORDINGS, write_file
from bench.common import quiet_logging
from llmcache.shared.cache.writes import StoreItem
from llmcache.shared.config import load_settings
from llmcache.shared.models import Completion, Miss, Usage

ANSWER = " ".join(["This is one sentence of a stored answer, about as long as the emulator's."] * 10)


def completion(n: int) -> Completion:
    raw: dict[str, Any] = {
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1765000000, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": ANSWER, "refusal": None, "annotations": []}}],
        "usage": {"prompt_tokens": 1900, "completion_tokens": 120, "total_tokens": 2020,
                  "prompt_tokens_details": {"cached_tokens": 1792, "audio_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_bench",
    }  # fmt: skip
    return Completion(
        provider="openai", model="gpt-4o-mini", text=ANSWER, finish_reason="stop",
        usage=Usage(input_tokens=108, output_tokens=120, cache_read_tokens=1792), cost_usd=0.0002,
        cost_without_prompt_cache_usd=0.0004, provider_request_id=f"req_{n}", latency_ms=500.0, raw_response=raw,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=1500, help="lines of the generator looked up and stored")
    parser.add_argument("--lines", type=int, default=30_720, help="warm exact lines per pass")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--name", default="this tree")
    args = parser.parse_args()
    quiet_logging()

    import llmcache.workers.batch.messages as messages
    from llmcache.workers.batch.formats import LineOptions, ParsedLine
    from llmcache.workers.batch.lease import RunKeys
    from llmcache.workers.batch.parsing import parse_line
    from llmcache.workers.batch.service import BatchWorker
    from llmcache.workers.batch.settings import BatchSettings
    from llmcache.workers.resources import WorkerResources

    work = Path(tempfile.mkdtemp(prefix="llmcache-worker-cpu-"))
    prefix = f"bench-worker-cpu-{uuid.uuid4().hex[:8]}"
    settings = load_settings().model_copy(update={"key_prefix": prefix, "data_dir": work / "data"})
    resources = WorkerResources(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        source = work / "source.jsonl"
        write_file(source, args.stored, COLD_WORDINGS, seed=7)
        stored: list[str] = []
        texts = source.read_text().splitlines()
        cache = resources.runtime.cache
        for start in range(0, len(texts), 256):  # as a cold run stores: batched lookups, each new request once
            parsed = [parse_line(n, t, "openai", LineOptions()) for n, t in enumerate(texts[start : start + 256])]
            requests = [p.job.request for p in parsed if isinstance(p, ParsedLine)]
            items: dict[str, StoreItem] = {}
            found_all = cache.lookup_many(requests)
            for text, request, found in zip(texts[start : start + 256], requests, found_all, strict=True):
                if isinstance(found, Miss) and found.request_key not in items:
                    items[str(found.request_key)] = StoreItem(request, completion(len(stored)), found)
                    stored.append(text)
            cache.store_many(list(items.values()))
        run_id = uuid.uuid4().hex[:16]
        keys = RunKeys(prefix, run_id)
        client.set(keys.alive, "1", ex=3600)
        spec = messages.RunSpec(
            run_id=run_id, key_prefix=prefix, fmt="openai", max_prompt_chars=BatchSettings().max_prompt_chars
        )
        packs = hasattr(messages, "pack_chunk")
        bodies: list[bytes] = []
        for start in range(0, args.lines, 256):
            lines = []
            for n in range(start, min(start + 256, args.lines)):
                row = json.loads(stored[n % len(stored)])
                row["custom_id"] = f"x{n}"
                text = json.dumps(row)
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                lines.append(messages.ChunkLine(line=n + 1, custom_id=f"x{n}", digest=digest, text=text))
            chunk = messages.LookupChunk(run=spec, chunk_id=f"l{start}.0", lines=lines)
            argument = messages.pack_chunk(chunk) if packs else chunk.model_dump_json()
            envelope = json.dumps([[], {"chunk": argument}, {"callbacks": None, "errbacks": None}]).encode()
            bodies.append(base64.b64encode(envelope if packs else zlib.compress(envelope)))
        worker = BatchWorker(resources, BatchSettings())
        if hasattr(resources, "prewarm"):  # what a worker does when it is ready (commits that have it)
            resources.prewarm(model=True)

        def one_pass() -> float:
            started = time.process_time()
            for body in bodies:
                raw = base64.b64decode(body)
                _, kwargs, _ = json.loads((raw if packs else zlib.decompress(raw)).decode())
                worker.lookup(kwargs["chunk"], worker="bench")
                client.delete(keys.results)
            return time.process_time() - started

        one_pass()
        for _ in range(args.passes):
            per_line = one_pass() / args.lines * 1e6
            print(f"{args.name}: {per_line:.1f} us CPU a warm exact line ({len(stored)} stored, {args.lines} lines, "
                  f"{1e6 / per_line:,.0f} lines/s of one core); load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    finally:
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()
        resources.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
