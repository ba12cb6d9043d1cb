"""`make run`: the main job on the embedded default.

Starts the provider emulator when no OpenAI or Anthropic key is set (and says so), a worker (thread pool, owner of
the Qdrant Edge shard), beat and the metrics worker; runs the bundled FAQ batch twice; prints what the cache did;
stops what it started. Redis must answer at the configured URL (the Makefile starts one when none does).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from llmcache.shared.config import Settings, load_settings
from llmcache.workers.answer_check import AnswerCheck, check_answers, load_answer_book
from llmcache.workers.batch.formats import LineOptions
from llmcache.workers.batch.runner import BatchSummary, run_batch
from llmcache.workers.producer import LLMCacheClient

EXAMPLES = Path(__file__).resolve().parent / "examples"
DEMO_PREFIX = "llmcache-demo"


@dataclass
class Services:
    env: dict[str, str]
    logs: Path
    processes: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[str]:
        log = (self.logs / f"{name}.log").open("a")
        process = subprocess.Popen(
            [sys.executable, "-m", "llmcache.workers.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append((name, process))
        return process

    def start_emulator(self) -> str:
        answers = str(EXAMPLES / "faq_answers.json")
        process = subprocess.Popen(
            [sys.executable, "-m", "llmcache.workers.cli", "emulator", "--port", "0", "--config", answers,
             "--ttft-ms", "120", "--per-token-ms", "2"],
            env=self.env, stdout=subprocess.PIPE, stderr=(self.logs / "emulator.log").open("a"), text=True,
        )  # fmt: skip
        self.processes.append(("emulator", process))
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", banner)
        if not match:
            raise RuntimeError(f"the emulator did not start: {banner!r}")
        return match.group(0)

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 20 s: killed", file=sys.stderr)
                process.kill()


def _clear_demo_state(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(match=f"{DEMO_PREFIX}:*", count=2000))
    for start in range(0, len(keys), 2000):
        client.delete(*keys[start : start + 2000])
    client.close()
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    settings.data_dir.mkdir(parents=True)


def _wait_for_workers(client: LLMCacheClient, services: Services, count: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in services.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {services.logs}/{name}.log")
        if len(client.app.control.ping(timeout=1.0)) >= count:
            return
    raise TimeoutError(f"workers did not answer within {timeout:.0f}s; see {services.logs}")


def _emulator_calls(url: str | None) -> int | None:
    if url is None:
        return None
    import json

    with urllib.request.urlopen(f"{url}/emulator/stats", timeout=10) as response:
        stats = json.load(response)
    return sum(int(row.get("calls", 0)) for row in stats["by_model"].values())


def run_main_job() -> int:
    base = load_settings()
    env = {k: v for k, v in os.environ.items() if k not in ("LLMCACHE_KEY_PREFIX", "LLMCACHE_DATA_DIR")}
    env["LLMCACHE_KEY_PREFIX"] = DEMO_PREFIX
    env["LLMCACHE_DATA_DIR"] = str(base.data_dir / "demo")
    env.setdefault("MALLOC_ARENA_MAX", "2")  # glibc's per-thread arenas cost a threaded worker 100-170 MB of RSS
    metrics_port = base.workers.metrics_port
    os.environ.update({"LLMCACHE_KEY_PREFIX": DEMO_PREFIX, "LLMCACHE_DATA_DIR": env["LLMCACHE_DATA_DIR"]})
    settings = load_settings()
    _clear_demo_state(settings)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    services = Services(env, logs)
    emulator_url: str | None = None
    keys = settings.providers.openai_api_key or settings.providers.anthropic_api_key
    try:
        if not keys:
            emulator_url = services.start_emulator()
            print(f"No OPENAI_API_KEY / ANTHROPIC_API_KEY set: answers come from the provider EMULATOR at "
                  f"{emulator_url} (deterministic, not a real provider).")  # fmt: skip
            for name, value in {
                "LLMCACHE_PROVIDERS__OPENAI_BASE_URL": f"{emulator_url}/v1",
                "LLMCACHE_PROVIDERS__OPENAI_API_KEY": "emulator",
                "LLMCACHE_PROVIDERS__ANTHROPIC_BASE_URL": emulator_url,
                "LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY": "emulator",
            }.items():
                env[name] = value
                os.environ[name] = value
            settings = load_settings()
        services.start("worker", "worker", "--queues", "llm,maintenance")
        services.start("beat", "beat")
        services.start("metrics", "metrics", "--port", str(metrics_port))
        client = LLMCacheClient(settings)
        print("starting a worker (thread pool, Qdrant Edge shard owner), beat and the metrics worker ...", flush=True)
        _wait_for_workers(client, services, count=2)
        batch = EXAMPLES / "faq_batch.jsonl"
        summaries: list[tuple[BatchSummary, int | None]] = []
        checks: list[AnswerCheck] = []
        for run in (1, 2):
            before = _emulator_calls(emulator_url)
            output = settings.data_dir / f"results-run{run}.jsonl"
            print(f"\nrun {run}: {batch.name} -> {output}", flush=True)
            summary = run_batch(client, batch, output, LineOptions(), window=64)
            after = _emulator_calls(emulator_url)
            summaries.append((summary, None if before is None or after is None else after - before))
            if emulator_url is not None:  # the emulator answers from the book: any other answer was served wrongly
                checks.append(check_answers(batch, output, load_answer_book(EXAMPLES / "faq_answers.json")))
        client.close()
        _print_summary(summaries, checks, metrics_port)
        return 0
    finally:
        services.stop()


def _print_summary(runs: list[tuple[BatchSummary, int | None]], checks: list[AnswerCheck], metrics_port: int) -> None:
    emulated = bool(checks)

    def row(label: str, values: list[str]) -> str:
        return f"{label:<34}" + "".join(f"{v:>16}" for v in values)

    print("\n" + "=" * 66)
    print("llmcache example: FAQ batch, 3 tenants, ~1.6k-token static system prompt, gpt-4o-mini")
    print(f"provider: {'EMULATOR (not a real provider)' if emulated else 'real API'}")
    print(row("", ["run 1 (cold)", "run 2 (warm)"]))
    s = [summary for summary, _ in runs]
    print(row("jobs", [str(x.lines) for x in s]))
    for outcome in ("exact", "semantic", "coalesced", "miss", "error"):
        print(row(f"  {outcome}", [str(x.outcomes[outcome] + (x.line_errors if outcome == "error" else 0)) for x in s]))
    hits = [x.outcomes["exact"] + x.outcomes["semantic"] + x.outcomes["coalesced"] for x in s]
    print(row("hit rate", [f"{h / max(x.lines, 1):.1%}" for h, x in zip(hits, s, strict=True)]))
    if checks:
        print(row("wrong answers served (answer book)", [f"{c.wrong} of {c.checked}" for c in checks]))
    print(row("provider calls (llmcache)", [str(x.provider_calls) for x in s]))
    if emulated:
        print(row("provider calls (emulator count)", [str(calls) for _, calls in runs]))
    print(row("input tokens billed", [f"{x.input_tokens:,}" for x in s]))
    print(row("  prompt-cache reads", [f"{x.cache_read_tokens:,}" for x in s]))
    print(row("output tokens", [f"{x.output_tokens:,}" for x in s]))
    print(row("dollars spent", [f"${x.spent_usd:.5f}" for x in s]))
    print(row("dollars saved by llmcache", [f"${x.saved_usd:.5f}" for x in s]))
    print(row("dollars without llmcache", [f"${x.spent_usd + x.saved_usd:.5f}" for x in s]))
    total_spent = sum(x.spent_usd for x in s)
    total_without = sum(x.spent_usd + x.saved_usd for x in s)
    print(f"\nboth runs: ${total_spent:.5f} spent instead of ${total_without:.5f} "
          f"({1 - total_spent / total_without if total_without else 0:.1%} saved)")  # fmt: skip
    print(f"metrics: http://127.0.0.1:{metrics_port}/metrics (while running), `llmcache stats` any time")
