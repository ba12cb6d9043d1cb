"""Every metric the Grafana dashboard and the Prometheus rules read is exported by the real metrics worker: the
`llmcache metrics` process is started here against real Redis, fed by the real recorder, and scraped over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from llmcache.shared.jobs import JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder, MetricsRollup
from llmcache.shared.models import Completion, Usage
from llmcache.shared.redis_keys import Keyspace
from tests.infra.promql import dashboard_expressions, metric_names, rule_expressions

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def test_every_expression_parses_and_names_only_llmcache_metrics() -> None:
    expressions = {**dashboard_expressions(), **rule_expressions()}
    assert len(expressions) >= 15
    for where, expression in expressions.items():
        names = metric_names(expression)
        assert names, f"{where}: reads no metric"
        assert all(n.startswith("llmcache_") for n in names), f"{where}: {names}"


def _job(outcome: Outcome, latency_ms: float) -> JobResult:
    called = outcome is Outcome.MISS
    completion = Completion(
        provider="openai", model="gpt-4o-mini", text="a", cost_usd=0.001,
        usage=Usage(input_tokens=90, cache_read_tokens=10, cache_write_5m_tokens=5, output_tokens=20),
    )  # fmt: skip
    return JobResult(
        job_id="j", outcome=outcome, completion=completion, provider_called=called, latency_ms=latency_ms,
        cost_usd=0.001 if called else 0.0, saved_usd=0.0 if called else 0.001,
    )  # fmt: skip


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _feed(client: redis.Redis, keys: Keyspace) -> None:
    """Jobs of every outcome, a guard refusal, a failed store and, over a simulated last 40 minutes, a hit-rate
    drop the roll-up raises an alert for: every family then has samples."""
    clock = Clock(time.time() - 40 * 60)
    recorder = MetricsRecorder(client, keys, clock=clock)
    rollup = MetricsRollup(client, keys, clock=clock, recent_minutes=5, baseline_minutes=30)
    for minute in range(40):
        healthy = minute < 35
        outcomes = [Outcome.EXACT] * 4 + [Outcome.MISS] if healthy else [Outcome.SEMANTIC] + [Outcome.MISS] * 9
        for outcome in [*outcomes, Outcome.COALESCED, Outcome.ERROR]:
            recorder.record("faq", "gpt-4o-mini", _job(outcome, 900.0 if outcome is Outcome.MISS else 4.0))
        clock.now += 60
        rollup.roll_up()
    recorder.record_guard_refusal("faq", ["number"])
    recorder.count("faq", "gpt-4o-mini", "store_failed")
    assert rollup.alerts(), "the simulated drop should raise the roll-up's alert"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


@pytest.fixture
def metrics_worker(redis_url: str, key_prefix: str, tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_") and k != "QDRANT_URL"}
    env.update(
        {"LLMCACHE_REDIS_URL": redis_url, "LLMCACHE_KEY_PREFIX": key_prefix, "LLMCACHE_DATA_DIR": str(tmp_path),
         "PYTHONPATH": str(ROOT)}
    )  # fmt: skip
    log = (tmp_path / "metrics.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "llmcache.workers.cli", "metrics", "--port", str(port)], env=env, cwd=ROOT, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_dashboard_and_the_alert_rules_read_only_exported_metrics(
    redis_url: str, key_prefix: str, metrics_worker: int
) -> None:
    _feed(redis.Redis.from_url(redis_url), Keyspace(key_prefix))
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline and "llmcache_workers_alive{" not in text:  # the census' first ping
        time.sleep(0.2)  # polling another process's state, bounded by the deadline
        text = _scrape(metrics_worker)
    assert "llmcache_workers_alive{" in text, "the metrics worker served no worker census within 90 s"
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported |= {sample.name for sample in family.samples}
        exported |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ())} | {family.name}
    used: dict[str, list[str]] = {}
    for where, expression in {**dashboard_expressions(), **rule_expressions()}.items():
        for name in metric_names(expression):
            used.setdefault(name, []).append(where)
    missing = {name: places for name, places in used.items() if name not in exported}
    assert not missing, "not exported by the metrics worker:\n" + "\n".join(
        f"  {name}: used in {', '.join(places)}" for name, places in sorted(missing.items())
    )
    with_samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert set(used) <= with_samples, f"exported without samples: {sorted(set(used) - with_samples)}"
