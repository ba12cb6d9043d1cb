"""`llmcache batch run` throughput and memory, with one worker, against the provider emulator (not a real provider).

A batch file of its own: a few thousand intents (templates x actions x objects), a long static system prompt,
three tenants, repeats (a skewed choice of intents) and paraphrases (greetings and thanks around the question).
Runs, in order, on a private redis-server (so that its `used_memory` is this benchmark's alone):
- cold: the emulator answers in 300-800 ms (300 ms to the first token + 8 ms a token, 12-60 tokens);
- warm, same file: the cold file again, a new output file (its lines that followed a leader are semantic hits);
- warm exact: a file of only the lines whose own answers the cold run stored (every line an exact hit);
- warm semantic: questions whose answers the cold run stored, in wordings the cold file never had, each in the
  tenant it was stored for (semantic hits where the guard accepts them; its refusals are misses);
- cold again on small fresh files at several answer concurrencies (lines/s against concurrency);
- with `--exact-sizes`, warm exact files of those sizes (memory against file size: peak RSS and Redis per size);
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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.common import machine_line, quiet_logging, write_section  # noqa: E402
from llmcache.shared.config import Settings, load_settings  # noqa: E402
from llmcache.shared.policy import seed_policies  # noqa: E402
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

    def redis_pid(self) -> int | None:
        try:
            return int(self.client.info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None

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


def precision_env(env: dict[str, str], precision: str) -> dict[str, str]:
    """A worker whose pair model runs at `precision`, with semantic aliases off: every run of the same file is
    judged again, so that the precisions are compared on the same work."""
    aliases = {f"LLMCACHE_NAMESPACES__{name.upper()}__ALIAS_SEMANTIC_HITS": "false" for name in seed_policies()}
    return env | aliases | {"LLMCACHE_GUARD__PAIR_MODEL_PRECISION": precision}


def sweep_lines(sweep: Sequence[tuple[int, RunResult]], lines: int) -> list[str]:
    if not sweep:
        return []
    runs = "; ".join(
        f"concurrency {c}: {r.rate:,.0f} lines/s, {r.summary.provider_calls / r.seconds:.1f} calls/s "
        f"(at most {c / 0.59:.1f} calls/s at a 0.59 s mean call)"
        for c, r in sweep
    )
    return [f"Cold sweep ({lines:,} fresh lines each): {runs}."]


def precision_lines(runs: Sequence[tuple[str, RunResult]]) -> list[str]:
    """The pair model's precisions on the same warm semantic file: throughput, the worker's CPU a line, outcomes."""
    if not runs:
        return []
    lines = [
        "",
        "The pair model's precision, on one fresh warm semantic file (the same lines each run, semantic aliases "
        "off, a worker restarted per run, rounds alternating):",
        "",
        "| run | lines/s | worker CPU ms a line | semantic | miss |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, r in runs:
        o = r.summary.outcomes
        cpu = r.cpu.get("worker", 0.0) / r.lines * 1000
        lines.append(f"| {r.name} | {r.rate:,.0f} | {cpu:.2f} | {o['semantic']:,} | {o['miss']:,} |")
    rates: dict[str, list[float]] = {}
    for precision, r in runs:
        rates.setdefault(precision, []).append(r.rate)
    means = {p: sum(v) / len(v) for p, v in rates.items()}
    first = next(iter(means))
    lines += [
        "",
        "Mean lines/s: " + ", ".join(f"{p} {m:,.0f} ({m / means[first]:.2f}x {first})" for p, m in means.items()),
    ]
    return lines


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


def restart_worker(
    process: subprocess.Popen[bytes], env: dict[str, str], concurrency: int, log: Path, monitor: Monitor, client: Any
) -> subprocess.Popen[bytes]:
    """Stops the worker, starts one with `env`, and waits until it answers; the monitor follows the new process."""
    stop_worker(process)
    worker = start_worker(env, concurrency, log)
    monitor.pid = worker.pid
    wait_for_worker(client, worker)
    return worker


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when it cannot be read)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class RunResult:
    name: str
    lines: int
    seconds: float
    summary: Any
    peak_rss_mb: float
    peak_redis_mb: float
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the client, worker and Redis over the run

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def timed_run(
    client: Any,
    settings: Settings,
    source: Path,
    out: Path,
    monitor: Monitor,
    name: str,
    profile: Path | None = None,
    profile_worker: Path | None = None,
) -> RunResult:
    """One `batch run`; `profile`: cProfile the client (this process) into that file; `profile_worker`: sample the
    worker with py-spy into that file."""
    import cProfile

    from llmcache.workers.batch.formats import LineOptions
    from llmcache.workers.batch.runner import run_batch

    monitor.reset()
    pids = {"client": os.getpid(), "worker": monitor.pid, "redis": monitor.redis_pid()}
    before = {k: cpu_seconds(pid) for k, pid in pids.items()}
    profiler = cProfile.Profile() if profile is not None else None
    sampler = None
    if profile_worker is not None and monitor.pid is not None:
        sampler = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(monitor.pid), "--format",
             "speedscope", "--output", str(profile_worker), "--rate", "200", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)  # py-spy attaches before the run starts
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = run_batch(client, source, out, LineOptions(), settings=settings, progress=False)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    if sampler is not None:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
    cpu = {k: cpu_seconds(pid) - before[k] for k, pid in pids.items()}
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    used = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
    print(f"{name}: {summary.lines} lines in {seconds:.2f} s = {summary.lines / seconds:.0f} lines/s; "
          f"{dict(summary.outcomes)}; calls {summary.provider_calls}; peak worker RSS {monitor.peak_rss_mb:.0f} MB, "
          f"peak Redis {monitor.peak_redis_mb:.1f} MB; CPU s: {used}; load {os.getloadavg()[0]:.1f}",
          flush=True)  # fmt: skip
    return RunResult(name, summary.lines, seconds, summary, monitor.peak_rss_mb, monitor.peak_redis_mb, cpu)


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


def reworded_lines(source: Path, output: Path, target: Path, lines: int, seed: int) -> None:
    """A file of semantic hits to be: the questions whose own answers the cold run stored, in the warm wordings (which
    the cold file never used), each line in the tenant its answer was stored for (the context includes the tenant)."""
    base = {worded(q, opener, closer): q for q in intents() for opener, closer in COLD_WORDINGS}
    stored = {json.loads(r)["llmcache"]["line"] for r in output.read_text().splitlines()
              if json.loads(r)["llmcache"]["outcome"] == "miss"}  # fmt: skip
    asked = []
    for n, text in enumerate(source.read_text().splitlines(), 1):
        if n in stored:
            row = json.loads(text)
            asked.append((base[row["body"]["messages"][-1]["content"]], row["llmcache"]["tenant"]))
    rng = random.Random(seed)
    with target.open("w") as out:
        for n in range(lines):
            question, tenant = rng.choice(asked)
            opener, closer = rng.choice(WARM_WORDINGS)
            body = {"model": MODEL, "max_tokens": 200,
                    "messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": worded(question, opener, closer)}]}  # fmt: skip
            line = {"custom_id": f"s{n}", "method": "POST", "url": "/v1/chat/completions", "body": body,
                    "llmcache": {"tenant": tenant}}  # fmt: skip
            out.write(json.dumps(line) + "\n")


class Limits:
    """In this process, on the same requests as the run they are compared with: parse + `lookup_many` per chunk
    (all hits), and MiniLM's batched embedding alone. On a runtime of its own (its own empty index folder: the
    worker owns the run's shard; exact hits never search it), so that each limit is measured just before and just
    after its run, under the same load as the run (this machine is shared)."""

    def __init__(self, settings: Settings, work: Path, chunk: int) -> None:
        from llmcache.shared.runtime import build_runtime

        self.runtime = build_runtime(settings.model_copy(update={"data_dir": work / "limits-data"}))
        self.chunk = chunk

    def lookup_many(self, path: Path) -> float:
        from llmcache.workers.batch.formats import LineOptions, ParsedLine
        from llmcache.workers.batch.parsing import parse_line

        texts = path.read_text().splitlines()
        started = time.perf_counter()
        for start in range(0, len(texts), self.chunk):
            parsed = [
                parse_line(i, t, "openai", LineOptions()) for i, t in enumerate(texts[start : start + self.chunk])
            ]
            self.runtime.cache.lookup_many([p.job.request for p in parsed if isinstance(p, ParsedLine)])
        return len(texts) / (time.perf_counter() - started)

    def embedding(self, path: Path) -> tuple[float, float]:
        """lines/s embedding every line's text, and embedding the distinct texts of each chunk (as the engine does)."""
        questions = [json.loads(t)["body"]["messages"][-1]["content"] for t in path.read_text().splitlines()]
        rates = []
        for distinct in (False, True):
            started = time.perf_counter()
            for start in range(0, len(questions), self.chunk):
                texts = questions[start : start + self.chunk]
                self.runtime.embedder.embed_batch(list(dict.fromkeys(texts)) if distinct else texts)
            rates.append(len(questions) / (time.perf_counter() - started))
        return rates[0], rates[1]

    def close(self) -> None:
        self.runtime.close()


def over_the_run(name: str, samples: list[tuple[float, float, float]]) -> str:
    """Worker RSS and Redis used_memory at each quarter of a run: flat, or growing with the lines done."""
    if len(samples) < 4:
        return f"Memory over the {name} run: too few samples."
    quarters = [samples[max(0, round(len(samples) * q) - 1)] for q in (0.25, 0.5, 0.75, 1.0)]
    rss = " / ".join(f"{r:.0f}" for _, r, _ in quarters)
    used = " / ".join(f"{u:.1f}" for _, _, u in quarters)
    return f"Memory over the {name} run, at 25/50/75/100% of its time: worker RSS {rss} MB, Redis {used} MB."


def stage_table(results: list[RunResult]) -> str:
    stages = ["scan", "parse", "exact", "embed", "search", "guard", "format", "metrics", "provider", "store", "write"]
    head = "| stage (s, summed over chunks) | " + " | ".join(r.name for r in results) + " |"
    rule = "|---|" + "---:|" * len(results)
    rows = [f"| {s} | " + " | ".join(f"{r.summary.stages.get(s, 0.0):.1f}" for r in results) + " |" for s in stages]
    return "\n".join([head, rule, *rows])


def exact_only(
    args: argparse.Namespace, client: Any, settings: Settings, work: Path, cold_file: Path, monitor: Monitor
) -> None:
    """`--exact-only`: warm exact runs, each size `--exact-repeats` times, the lookup_many limit before and after."""
    limits = Limits(settings, work, args.chunk)
    sizes = [int(n) for n in args.exact_sizes.split(",") if n] or [args.lines]
    rates: list[float] = []
    limit = [limits.lookup_many(_exact_file(work, cold_file, sizes[0]))]
    for repeat in range(args.exact_repeats):
        for size in sizes:
            exact = _exact_file(work, cold_file, size)
            out = work / f"exact-{size}-{repeat}.out"
            rates.append(timed_run(client, settings, exact, out, monitor, f"warm exact, {size:,} lines",
                                   args.profile_client, args.profile_worker).rate)  # fmt: skip
            out.unlink()
    limit.append(limits.lookup_many(_exact_file(work, cold_file, sizes[0])))
    limits.close()
    print(f"warm exact lines/s: {' / '.join(f'{r:,.0f}' for r in rates)}; lookup_many limit before/after "
          f"{limit[0]:,.0f} / {limit[1]:,.0f}; load average {os.getloadavg()}", flush=True)  # fmt: skip


def _exact_file(work: Path, cold_file: Path, size: int) -> Path:
    path = work / f"exact-{size}.jsonl"
    if not path.exists():
        stored_lines(cold_file, work / "cold.out", path, size)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--cold-lines", type=int, default=2_000, help="lines of each concurrency-sweep file")
    parser.add_argument("--concurrency", default="8,32", help="answer concurrencies of the cold sweep")
    parser.add_argument("--main-concurrency", type=int, default=64, help="answer concurrency of the main cold run")
    parser.add_argument("--exact-sizes", default="", help="warm exact files of these sizes too, e.g. 10000,100000")
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument(
        "--precisions",
        default="",
        help="the pair model's precisions to compare on warm semantic hits, e.g. float32,int8 (a fresh file, aliases "
        "off, two alternating rounds)",
    )
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    parser.add_argument(
        "--exact-only", action="store_true",
        help="only what warm exact needs: the cold run (to store answers), then warm exact (and --exact-sizes) "
        "with the lookup_many limit around it; prints, writes nothing",
    )  # fmt: skip
    parser.add_argument("--exact-repeats", type=int, default=1, help="--exact-only: warm exact runs of each size")
    parser.add_argument("--profile-client", type=Path, help="cProfile the client of the warm exact runs into this file")
    parser.add_argument(
        "--profile-worker", type=Path,
        help="sample the worker with py-spy (pip install py-spy) during the warm exact runs, into this speedscope file",
    )  # fmt: skip
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
    os.environ["LLMCACHE_BATCH__CHUNK_SIZE"] = str(args.chunk)
    results: list[RunResult] = []
    sweep: list[tuple[int, RunResult]] = []
    growth: list[RunResult] = []
    by_precision: list[tuple[str, RunResult]] = []
    cold_samples: list[tuple[float, float, float]] = []
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
            cold_samples = list(monitor.samples)
            if args.exact_only:
                exact_only(args, client, settings, work, cold_file, monitor)
                stop_worker(worker)
                monitor.stop()
                client.close()
                return 0
            results.append(timed_run(client, settings, cold_file, work / "warm.out", monitor, "warm, same file"))
            exact_file = work / "exact.jsonl"
            stored_lines(cold_file, work / "cold.out", exact_file, args.lines)
            limits = Limits(settings, work, args.chunk)
            exact_limits = [limits.lookup_many(exact_file)]
            results.append(timed_run(client, settings, exact_file, work / "exact.out", monitor, "warm exact"))
            exact_limits.append(limits.lookup_many(exact_file))
            reworded_lines(cold_file, work / "cold.out", semantic_file, max(args.lines // 5, 1000), seed=2)
            embed_limits = [limits.embedding(semantic_file)]
            results.append(timed_run(client, settings, semantic_file, work / "sem.out", monitor, "warm semantic"))
            embed_limits.append(limits.embedding(semantic_file))
            limits.close()
            print(f"limits before/after: lookup_many {exact_limits}, embedding {embed_limits}", flush=True)
            for size in [int(n) for n in args.exact_sizes.split(",") if n]:
                sized = work / f"exact-{size}.jsonl"
                stored_lines(cold_file, work / "cold.out", sized, size)
                name = f"warm exact, {size:,} lines"
                growth.append(timed_run(client, settings, sized, work / f"exact-{size}.out", monitor, name))
                sized.unlink()
            peak_hwm = monitor._rss()[1]
            precisions = [p for p in args.precisions.split(",") if p]
            if precisions:
                compare_file = work / "compare.jsonl"
                reworded_lines(cold_file, work / "cold.out", compare_file, max(args.lines // 5, 1000), seed=4)
                for round_ in (1, 2):
                    for precision in precisions:
                        worker = restart_worker(worker, precision_env(env, precision), args.main_concurrency,
                                                work / "worker.log", monitor, client)  # fmt: skip
                        name = f"warm semantic, {precision}, round {round_}"
                        out = work / f"compare-{precision}-{round_}.out"
                        by_precision.append((precision, timed_run(client, settings, compare_file, out, monitor, name)))
            for concurrency in [int(c) for c in args.concurrency.split(",") if c]:
                worker = restart_worker(worker, env, concurrency, work / "worker.log", monitor, client)
                tag = f"c{concurrency}-"
                sweep_file = work / f"{tag}batch.jsonl"
                write_file(sweep_file, args.cold_lines, COLD_WORDINGS, seed=3, tag=tag)
                name = f"cold, concurrency {concurrency}"
                sweep.append((concurrency, timed_run(client, settings, sweep_file, work / f"{tag}.out", monitor, name)))
            stop_worker(worker)
            monitor.stop()
            client.close()
    finally:
        emulator.stop()
        if os.environ.get("LLMCACHE_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    cold, _, warm, semantic = results
    lookup_limit = sum(exact_limits) / len(exact_limits)
    embed_all = sum(r[0] for r in embed_limits) / len(embed_limits)
    embed_distinct = sum(r[1] for r in embed_limits) / len(embed_limits)
    text = [
        f"{machine_line()}, commit {commit.stdout.strip()}. `python bench/batch.py --lines {args.lines}"
        f"{' --write' if args.write else ''}`: one worker (24 threads), a private redis-server, the provider "
        f"emulator (not a real provider) at 300 ms + 8 ms/token (12-60 tokens: 0.4-0.8 s a call). Input: "
        f"{args.lines:,} OpenAI lines over {len(intents()):,} intents, 3 tenants, a {len(SYSTEM):,}-character "
        f"system prompt; the semantic file is {semantic.lines:,} lines of the questions the cold run stored, in "
        f"wordings the cold file never had, each in its stored tenant. Chunks of {args.chunk} lines.",
        "",
        "| run | lines | lines/s | exact | semantic | coalesced | miss | errors | provider calls | peak worker RSS "
        "| peak Redis used_memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*results, *growth, *(r for _, r in sweep)]:
        o = r.summary.outcomes
        text.append(
            f"| {r.name} | {r.lines:,} | {r.rate:,.0f} | {o['exact']:,} | {o['semantic']:,} | {o['coalesced']:,} "
            f"| {o['miss']:,} | {r.summary.errors} | {r.summary.provider_calls:,} | {r.peak_rss_mb:.0f} MB "
            f"| {r.peak_redis_mb:.1f} MB |"
        )
    text += [
        "",
        "Limits in one process on the same requests, measured just before and just after the run they are compared "
        f"with (the ratios use the mean): `lookup_many` (parse included) {lookup_limit:,.0f} lines/s "
        f"({' / '.join(f'{r:,.0f}' for r in exact_limits)}); MiniLM batched embedding alone {embed_all:,.0f} lines/s "
        f"every line's text ({' / '.join(f'{r[0]:,.0f}' for r in embed_limits)}), {embed_distinct:,.0f} lines/s "
        "the distinct texts of each chunk, as the engine embeds "
        f"({' / '.join(f'{r[1]:,.0f}' for r in embed_limits)}).",
        f"Warm exact: {warm.rate:,.0f} lines/s = {warm.rate / lookup_limit:.0%} of the in-process "
        f"`lookup_many` limit. Warm semantic: {semantic.rate:,.0f} lines/s = "
        f"{semantic.rate / embed_all:.0%} of the embedding-alone limit "
        f"({semantic.rate / embed_distinct:.0%} of the distinct-text one).",
        f"Cold: {cold.rate:,.0f} lines/s with {cold.summary.provider_calls:,} provider calls at answer "
        f"concurrency {args.main_concurrency}: {cold.summary.provider_calls / cold.seconds:.1f} calls/s.",
        *sweep_lines(sweep, args.cold_lines),
        f"Worker peak RSS before any restart (VmHWM): {peak_hwm:.0f} MB.",
        over_the_run("cold", cold_samples),
        *precision_lines(by_precision),
        "",
        stage_table(results),
    ]
    body = "\n".join(text)
    print(body)
    if args.write:
        write_section("batch", "## Batch engine (`bench/batch.py`)\n\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
