"""`llmcache batch run` throughput and memory, with one worker, against the provider emulator (not a real provider).

A batch file of its own: a few thousand intents (templates x actions x objects), a long static system prompt,
three tenants, repeats (a skewed choice of intents) and paraphrases (greetings and thanks around the question).
Runs, in order, on a private redis-server (so that its `used_memory` is this benchmark's alone):
- cold: the emulator answers in 300-800 ms (300 ms to the first token + 8 ms a token, 12-60 tokens);
- warm, same file: the cold file again, a new output file (its lines that followed a leader are semantic hits);
- warm exact: a file of only the lines whose own answers the cold run stored (every line an exact hit);
- warm semantic: the same questions in wordings the cold file never had (semantic hits, guard on);
- cold again on small fresh files at several answer concurrencies (lines/s against concurrency);
- the limits, in this process on the same requests: `LLMCache.lookup_many` alone (parse included) and MiniLM's
  batched embedding alone.
Peak worker RSS (VmHWM) and peak Redis used_memory are sampled throughout; the stages are the workers' own timings.

    python bench/batch.py --lines 100000 [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.common import machine_line, quiet_logging, write_section  # noqa: E402
from llmcache.shared.config import Settings, load_settings  # noqa: E402
from llmcache.testing.emulator.config import EmulatorConfig  # noqa: E402
from llmcache.testing.emulator.server import RunningEmulator  # noqa: E402

SYSTEM = (
    "You are the support assistant of Acme Cloud, a workspace product for teams. Answer in two sentences, "
    "plainly, without marketing language. Use the customer's own words for product areas. "
) * 40  # ~6,000 characters, ~1.3k tokens: a long static prefix, the same on every line
ACTIONS = ["reset", "change", "update", "delete", "export", "download", "share", "rename", "archive", "restore",
           "transfer", "cancel", "renew", "verify", "lock"]  # fmt: skip
OBJECTS = ["password", "invoice", "account", "workspace", "API key", "billing address", "profile photo", "team",
           "project", "subscription", "payment method", "report", "dashboard", "webhook", "domain", "backup",
           "calendar", "contact list", "email alias", "VPN profile"]  # fmt: skip
TEMPLATES = ["How do I {a} my {o}?", "Can I {a} my {o} from the mobile app?", "Why can't I {a} my {o}?",
             "Who can {a} the {o} for our team?", "What happens when I {a} my {o}?",
             "Is there a limit on how often I can {a} my {o}?", "How long does it take to {a} my {o}?",
             "Where do I go to {a} my {o}?", "Can an admin {a} my {o}?",
             "What permissions do I need to {a} the {o}?"]  # fmt: skip
COLD_WORDINGS = [("", ""), ("Hi, ", ""), ("", " Thanks!"), ("Hello, ", " Thank you.")]
WARM_WORDINGS = [("Hi there, ", ""), ("Hey, ", " Thanks."), ("So, ", ""), ("Hello there, ", " Thanks!")]
TENANTS = ["acme", "globex", "initech"]
MODEL = "gpt-4o-mini"


def intents() -> list[str]:
    return [t.format(a=a, o=o) for t in TEMPLATES for a in ACTIONS for o in OBJECTS]


def worded(question: str, opener: str, closer: str) -> str:
    return f"{opener}{question[0].lower() + question[1:] if opener else question}{closer}"


def write_file(path: Path, lines: int, wordings: list[tuple[str, str]], seed: int, tag: str = "") -> None:
    rng = random.Random(seed)
    pool = intents()
    weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(pool))]  # skewed: popular intents repeat
    with path.open("w") as out:
        for n in range(lines):
            question = rng.choices(pool, weights)[0]
            opener, closer = wordings[0] if rng.random() < 0.6 else rng.choice(wordings[1:])
            body = {
                "model": MODEL,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": worded(question, opener, closer)}],
                "max_tokens": 200,
            }  # fmt: skip
            line = {"custom_id": f"{tag}l{n}", "method": "POST", "url": "/v1/chat/completions", "body": body,
                    "llmcache": {"tenant": rng.choice(TENANTS) + tag}}  # fmt: skip
            out.write(json.dumps(line) + "\n")


@dataclass
class Monitor:
    """Samples the worker's RSS and peak RSS (/proc) and Redis used_memory every half second."""

    client: redis.Redis
    pid: int | None = None
    peak_rss_mb: float = 0.0
    peak_redis_mb: float = 0.0
    samples: list[tuple[float, float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.peak_rss_mb = self.peak_redis_mb = 0.0
        self.samples.clear()

    def _rss(self) -> tuple[float, float]:
        if self.pid is None:
            return 0.0, 0.0
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0, 0.0
        fields = {k: v for k, _, v in (line.partition(":") for line in status.splitlines())}
        if "VmRSS" not in fields:  # a process that has exited
            return 0.0, 0.0
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def loop(self) -> None:
        while not self._stop.wait(0.5):
            rss, _ = self._rss()
            try:
                used = int(self.client.info("memory")["used_memory"]) / 2**20
            except redis.RedisError:
                continue
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.peak_redis_mb = max(self.peak_redis_mb, used)
            self.samples.append((time.monotonic(), rss, used))

    def start(self) -> None:
        threading.Thread(target=self.loop, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def settings_env(redis_url: str, emulator: RunningEmulator, data_dir: Path, prefix: str) -> dict[str, str]:
    return {
        "LLMCACHE_REDIS_URL": redis_url,
        "LLMCACHE_KEY_PREFIX": prefix,
        "LLMCACHE_DATA_DIR": str(data_dir),
        "LLMCACHE_PROVIDERS__OPENAI_API_KEY": "emulator-key",
        "LLMCACHE_PROVIDERS__OPENAI_BASE_URL": emulator.openai_base_url,
        "LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY": "emulator-key",
        "LLMCACHE_PROVIDERS__ANTHROPIC_BASE_URL": emulator.anthropic_base_url,
    }


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_")} | env
    full["LLMCACHE_BATCH__ANSWER_CONCURRENCY"] = str(concurrency)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "llmcache.workers.cli", "worker", "--queues", "llm,maintenance", "--concurrency", "24"],
        env=full, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_for_worker(client: Any, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}")
        if client.app.control.ping(timeout=1.0):
            return
    raise TimeoutError("the worker did not answer within 300 s")


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class RunResult:
    name: str
    lines: int
    seconds: float
    summary: Any
    peak_rss_mb: float
    peak_redis_mb: float

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def timed_run(client: Any, settings: Settings, source: Path, out: Path, monitor: Monitor, name: str) -> RunResult:
    from llmcache.workers.batch.formats import LineOptions
    from llmcache.workers.batch.runner import run_batch

    monitor.reset()
    started = time.perf_counter()
    summary = run_batch(client, source, out, LineOptions(), settings=settings, progress=False)
    seconds = time.perf_counter() - started
    print(f"{name}: {summary.lines} lines in {seconds:.1f} s = {summary.lines / seconds:.0f} lines/s; "
          f"{dict(summary.outcomes)}; calls {summary.provider_calls}; peak worker RSS {monitor.peak_rss_mb:.0f} MB, "
          f"peak Redis {monitor.peak_redis_mb:.1f} MB", flush=True)  # fmt: skip
    return RunResult(name, summary.lines, seconds, summary, monitor.peak_rss_mb, monitor.peak_redis_mb)


def stored_lines(source: Path, output: Path, target: Path, lines: int) -> None:
    """A file of only exact hits: the lines whose own answer the cold run stored (its misses), repeated to size."""
    stored = {json.loads(r)["llmcache"]["line"] for r in output.read_text().splitlines()
              if json.loads(r)["llmcache"]["outcome"] == "miss"}  # fmt: skip
    texts = [t for n, t in enumerate(source.read_text().splitlines(), 1) if n in stored]
    with target.open("w") as out:
        for n in range(lines):
            row = json.loads(texts[n % len(texts)])
            row["custom_id"] = f"x{n}"
            out.write(json.dumps(row) + "\n")


def limits(settings: Settings, warm: Path, semantic: Path, chunk: int) -> dict[str, float]:
    """In this process, on the same requests: parse + `lookup_many` per chunk (all hits), and embedding alone."""
    from llmcache.shared.runtime import build_runtime
    from llmcache.workers.batch.formats import LineOptions, ParsedLine
    from llmcache.workers.batch.parsing import parse_line

    runtime = build_runtime(settings)
    try:
        texts = warm.read_text().splitlines()
        started = time.perf_counter()
        for start in range(0, len(texts), chunk):
            parsed = [parse_line(i, t, "openai", LineOptions()) for i, t in enumerate(texts[start : start + chunk])]
            runtime.cache.lookup_many([p.job.request for p in parsed if isinstance(p, ParsedLine)])
        exact = len(texts) / (time.perf_counter() - started)
        questions = [json.loads(t)["body"]["messages"][-1]["content"] for t in semantic.read_text().splitlines()]
        started = time.perf_counter()
        for start in range(0, len(questions), chunk):
            runtime.embedder.embed_batch(questions[start : start + chunk])
        embed_all = len(questions) / (time.perf_counter() - started)
        started = time.perf_counter()
        for start in range(0, len(questions), chunk):
            runtime.embedder.embed_batch(list(dict.fromkeys(questions[start : start + chunk])))
        embed_distinct = len(questions) / (time.perf_counter() - started)
    finally:
        runtime.close()
    return {"lookup_many": exact, "embed_every_line": embed_all, "embed_distinct_per_chunk": embed_distinct}


def stage_table(results: list[RunResult]) -> str:
    stages = ["scan", "parse", "exact", "embed", "search", "guard", "format", "metrics", "provider", "store", "write"]
    head = "| stage (s, summed over chunks) | " + " | ".join(r.name for r in results) + " |"
    rule = "|---|" + "---:|" * len(results)
    rows = [f"| {s} | " + " | ".join(f"{r.summary.stages.get(s, 0.0):.1f}" for r in results) + " |" for s in stages]
    return "\n".join([head, rule, *rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--cold-lines", type=int, default=2_000, help="lines of each concurrency-sweep file")
    parser.add_argument("--concurrency", default="8,32", help="answer concurrencies of the cold sweep")
    parser.add_argument("--main-concurrency", type=int, default=64, help="answer concurrency of the main cold run")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    args = parser.parse_args()
    quiet_logging()
    if shutil.which("redis-server") is None:
        print("bench/batch.py needs redis-server on PATH (a private one: its used_memory is this run's alone)")
        return 2
    from llmcache.workers.producer import LLMCacheClient

    git = ["git", "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=False)
    work = Path(tempfile.mkdtemp(prefix="llmcache-bench-batch-"))
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=300, per_output_token_ms=8))
    cold_file, semantic_file = work / "batch.jsonl", work / "semantic.jsonl"
    write_file(cold_file, args.lines, COLD_WORDINGS, seed=1)
    write_file(semantic_file, max(args.lines // 5, 1000), WARM_WORDINGS, seed=2)
    os.environ["LLMCACHE_BATCH__CHUNK_SIZE"] = str(args.chunk)
    results: list[RunResult] = []
    sweep: list[tuple[int, RunResult]] = []
    try:
        with private_redis(work) as url:
            env = settings_env(url, emulator, work / "data", f"bench-{uuid.uuid4().hex[:8]}")
            os.environ.update(env)
            settings = load_settings()
            client = LLMCacheClient(settings)
            monitor = Monitor(redis.Redis.from_url(url))
            monitor.start()
            worker = start_worker(env, args.main_concurrency, work / "worker.log")
            monitor.pid = worker.pid
            wait_for_worker(client, worker)
            results.append(timed_run(client, settings, cold_file, work / "cold.out", monitor, "cold"))
            results.append(timed_run(client, settings, cold_file, work / "warm.out", monitor, "warm, same file"))
            exact_file = work / "exact.jsonl"
            stored_lines(cold_file, work / "cold.out", exact_file, args.lines)
            results.append(timed_run(client, settings, exact_file, work / "exact.out", monitor, "warm exact"))
            results.append(timed_run(client, settings, semantic_file, work / "sem.out", monitor, "warm semantic"))
            peak_hwm = monitor._rss()[1]
            for concurrency in [int(c) for c in args.concurrency.split(",") if c]:
                stop_worker(worker)
                worker = start_worker(env, concurrency, work / "worker.log")
                monitor.pid = worker.pid
                wait_for_worker(client, worker)
                tag = f"c{concurrency}-"
                sweep_file = work / f"{tag}batch.jsonl"
                write_file(sweep_file, args.cold_lines, COLD_WORDINGS, seed=3, tag=tag)
                name = f"cold, concurrency {concurrency}"
                sweep.append((concurrency, timed_run(client, settings, sweep_file, work / f"{tag}.out", monitor, name)))
            stop_worker(worker)
            monitor.stop()
            client.close()
            limit = limits(settings, exact_file, semantic_file, args.chunk)
            print(f"limits: {limit}", flush=True)
    finally:
        emulator.stop()
    cold, _, warm, semantic = results
    text = [
        f"{machine_line()}, commit {commit.stdout.strip()}. `python bench/batch.py --lines {args.lines}"
        f"{' --write' if args.write else ''}`: one worker (24 threads), a private redis-server, the provider "
        f"emulator (not a real provider) at 300 ms + 8 ms/token (12-60 tokens: 0.4-0.8 s a call). Input: "
        f"{args.lines:,} OpenAI lines over {len(intents()):,} intents, 3 tenants, a {len(SYSTEM):,}-character "
        f"system prompt; the semantic file is {semantic.lines:,} lines of the same intents in wordings the cold "
        f"file never had. Chunks of {args.chunk} lines.",
        "",
        "| run | lines | lines/s | exact | semantic | coalesced | miss | errors | provider calls | peak worker RSS "
        "| peak Redis used_memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*results, *(r for _, r in sweep)]:
        o = r.summary.outcomes
        text.append(
            f"| {r.name} | {r.lines:,} | {r.rate:,.0f} | {o['exact']:,} | {o['semantic']:,} | {o['coalesced']:,} "
            f"| {o['miss']:,} | {r.summary.errors} | {r.summary.provider_calls:,} | {r.peak_rss_mb:.0f} MB "
            f"| {r.peak_redis_mb:.1f} MB |"
        )
    text += [
        "",
        f"Limits in one process on the same requests: `lookup_many` (parse included) {limit['lookup_many']:,.0f} "
        f"lines/s; MiniLM batched embedding alone {limit['embed_every_line']:,.0f} lines/s (every line's text), "
        f"{limit['embed_distinct_per_chunk']:,.0f} lines/s (distinct texts per chunk, as the engine embeds).",
        f"Warm exact: {warm.rate:,.0f} lines/s = {warm.rate / limit['lookup_many']:.0%} of the in-process "
        f"`lookup_many` limit. Warm semantic: {semantic.rate:,.0f} lines/s = "
        f"{semantic.rate / limit['embed_every_line']:.0%} of the embedding-alone limit "
        f"({semantic.rate / limit['embed_distinct_per_chunk']:.0%} of the distinct-text one).",
        f"Cold: {cold.rate:,.0f} lines/s with {cold.summary.provider_calls:,} provider calls at answer "
        f"concurrency {args.main_concurrency}: {cold.summary.provider_calls / cold.seconds:.1f} calls/s.",
        "Cold sweep ("
        + f"{args.cold_lines:,}"
        + " fresh lines each): "
        + "; ".join(
            f"concurrency {c}: {r.rate:,.0f} lines/s, {r.summary.provider_calls / r.seconds:.1f} calls/s "
            f"(at most {c / 0.59:.1f} calls/s at a 0.59 s mean call)"
            for c, r in sweep
        )
        + ".",
        f"Worker peak RSS over the whole run (VmHWM): {peak_hwm:.0f} MB.",
        "",
        stage_table(results),
    ]
    body = "\n".join(text)
    print(body)
    if args.write:
        write_section("batch", "## Batch engine (`bench/batch.py`)\n\n" + body)
    if os.environ.get("LLMCACHE_BENCH_KEEP"):
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
