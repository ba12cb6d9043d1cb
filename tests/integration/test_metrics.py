"""Metrics on real Redis, with a controlled clock: running totals and histograms, idempotent roll-ups, a read-only
report, one round trip per scrape, a bounded model label and the hit-rate alert."""

from __future__ import annotations

from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from llmcache.shared.jobs import JobResult, Outcome
from llmcache.shared.metrics import (
    LATENCY_BUCKETS,
    MetricsRecorder,
    MetricsRollup,
    ModelLabels,
    prometheus_families,
    read_snapshot,
)
from llmcache.shared.models import Completion, Usage
from llmcache.shared.redis_keys import Keyspace


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingConnection(redis.Connection):
    """Counts what the client sends: one packet per command, one per pipeline (a round trip each)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def counting_client(url: str) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    client.ping()  # connect (and its handshake) before counting
    return client


def result(outcome: Outcome, latency: float = 5.0) -> JobResult:
    called = outcome is Outcome.MISS
    completion = Completion(
        provider="openai", model="m", text="a", usage=Usage(input_tokens=100, cache_read_tokens=20, output_tokens=10),
        cost_usd=0.002,
    )  # fmt: skip
    return JobResult(
        job_id="j", outcome=outcome, completion=completion, provider_called=called,
        cost_usd=0.002 if called else 0.0, saved_usd=0.0 if called else 0.002, latency_ms=latency,
    )  # fmt: skip


def exposition(client: redis.Redis, keys: Keyspace, clock: Clock, queues: tuple[str, ...] = ("llm",)) -> str:
    from prometheus_client import generate_latest

    class Collector:
        def collect(self) -> Any:
            return prometheus_families(read_snapshot(client, keys, queues, clock), {"llm-maintenance": 2})

    registry = CollectorRegistry()
    registry.register(Collector())
    return generate_latest(registry).decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_rollup_counts_rates_latency_and_totals(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    recorder = MetricsRecorder(client, Keyspace(key_prefix), clock=clock, models=["m"])
    rollup = MetricsRollup(client, Keyspace(key_prefix), clock=clock)
    for outcome, latency in [
        (Outcome.MISS, 400.0),
        (Outcome.EXACT, 1.0),
        (Outcome.SEMANTIC, 9.0),
        (Outcome.EXACT, 2.0),
    ]:
        recorder.record("faq", "m", result(outcome, latency))
    assert rollup.totals()["faq|m"]["requests"] == 4  # visible before any roll-up
    clock.now += 60
    rows = rollup.roll_up()
    assert len(rows) == 1
    row = rows[0]
    assert row.counters["requests"] == 4 and row.counters["provider_calls"] == 1
    assert row.hit_rate == 0.75
    assert row.counters["input_tokens"] == 100 and row.counters["cache_read_tokens"] == 20
    assert row.miss_latency_p50_ms == 400.0 and row.hit_latency_p50_ms == 2.0
    assert abs(row.counters["saved_usd"] - 0.006) < 1e-12
    assert rollup.roll_up() == []  # a closed minute is rolled once
    assert rollup.totals()["faq|m"]["requests"] == 4
    assert rollup.live_totals()["faq|m"]["requests"] == 4  # not counted twice
    assert rollup.totals()["faq|m"]["served_output_tokens"] == 30  # three hits of a 10-token answer


def test_a_repeated_or_concurrent_roll_up_changes_nothing(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = Keyspace(key_prefix)
    clock = Clock()
    recorder = MetricsRecorder(client, keys, clock=clock, models=["m"])
    for outcome in [Outcome.MISS, Outcome.EXACT, Outcome.EXACT]:
        recorder.record("faq", "m", result(outcome))
    clock.now += 60
    first, second = MetricsRollup(client, keys, clock=clock), MetricsRollup(client, keys, clock=clock)
    # two metrics workers both found the minute unrolled: both write it, the second write replaces the first
    todo = first.compute([int(clock.now // 60) - 1])
    assert todo == second.compute([int(clock.now // 60) - 1])
    first.roll_up()
    client.zrem(keys.metrics_rolled(), str(int(clock.now // 60) - 1))  # as if the second had read before the mark
    second.roll_up()
    (row,) = first.series(minutes=5)
    assert row.counters["requests"] == 3
    assert first.totals()["faq|m"]["requests"] == 3


def test_report_is_read_only(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = Keyspace(key_prefix)
    clock = Clock()
    recorder = MetricsRecorder(client, keys, clock=clock, models=["m"])
    rollup = MetricsRollup(client, keys, clock=clock)
    recorder.record("faq", "m", result(Outcome.MISS))
    clock.now += 60
    recorder.record("faq", "m", result(Outcome.EXACT))

    def state() -> dict[bytes, bytes | None]:
        return {key: client.dump(key) for key in sorted(client.scan_iter(match=f"{key_prefix}:*"))}

    before = state()
    rows = rollup.report(minutes=10)
    assert [(r.minute - int(clock.now // 60), r.counters["requests"]) for r in rows] == [(-1, 1.0), (0, 1.0)]
    assert state() == before


def test_a_scrape_is_one_round_trip_and_exports_histograms(redis_url: str, key_prefix: str) -> None:
    client = counting_client(redis_url)
    keys = Keyspace(key_prefix)
    clock = Clock()
    recorder = MetricsRecorder(client, keys, clock=clock, models=["m", "n"])
    for minute in range(30):  # many minutes, groups and outcomes: the scrape cost must not grow with them
        for namespace in ("faq", "code"):
            recorder.record(namespace, "m", result(Outcome.MISS, 700.0))
            recorder.record(namespace, "n", result(Outcome.EXACT, 3.0 + minute))
        clock.now += 60
    recorder.record_guard_refusal("faq", ["contrast:open/close", "number"])
    recorder.record_guard_refusal("faq", ["verifier"])
    client.rpush(keys.celery_queue("llm"), "a", "b")
    client.rpush(f"{keys.celery_queue('llm')}:9", "c")
    CountingConnection.sent = 0
    snapshot = read_snapshot(client, keys, ("llm", "maintenance"), clock)
    assert CountingConnection.sent == 1
    assert snapshot.queues == {"llm": 3, "maintenance": 0}

    found = samples(exposition(client, keys, clock))
    hit = {"model": "n", "namespace": "faq", "outcome": "exact", "result": "hit"}
    assert found[key("llmcache_request_latency_seconds_count", **hit)] == 30
    buckets = [found[key("llmcache_request_latency_seconds_bucket", le=repr(b), **hit)] for b in LATENCY_BUCKETS]
    assert buckets == sorted(buckets) and buckets[-1] == 30  # cumulative
    assert found[key("llmcache_request_latency_seconds_bucket", le="0.025", **hit)] == 23  # 3..32 ms: 23 <= 25 ms
    assert found[key("llmcache_request_latency_seconds_bucket", le="+Inf", **hit)] == 30
    miss = {"model": "m", "namespace": "code", "outcome": "miss", "result": "miss"}
    assert abs(found[key("llmcache_request_latency_seconds_sum", **miss)] - 30 * 0.7) < 1e-9
    assert found[key("llmcache_guard_refusals_total", namespace="faq", reason="contrast")] == 1
    assert found[key("llmcache_guard_refusals_total", namespace="faq", reason="verifier")] == 1
    assert found[key("llmcache_queue_depth", queue="llm")] == 3
    assert found[key("llmcache_workers_alive", queues="llm-maintenance")] == 2
    assert found[key("llmcache_provider_calls_total", model="m", namespace="faq")] == 30
    assert found[key("llmcache_provider_tokens_total", model="m", namespace="faq", kind="cache_read")] == 600


def test_the_model_label_is_bounded_by_the_pricing_table(redis_url: str, key_prefix: str) -> None:
    labels = ModelLabels.from_pricing()
    assert labels("gpt-4o-mini") == "gpt-4o-mini"
    assert labels("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"  # a dated snapshot of a table model
    assert labels("my-finetune-7b-v3") == "other"
    client = redis.Redis.from_url(redis_url)
    recorder = MetricsRecorder(client, Keyspace(key_prefix), clock=Clock())
    for i in range(50):
        recorder.record("faq", f"ft:custom-{i}", result(Outcome.MISS))
    assert MetricsRollup(client, Keyspace(key_prefix)).groups() == ["faq|other"]


def test_alert_when_the_hit_rate_falls_well_below_its_baseline(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    recorder = MetricsRecorder(client, Keyspace(key_prefix), clock=clock, models=["m"])
    rollup = MetricsRollup(client, Keyspace(key_prefix), clock=clock, recent_minutes=5, baseline_minutes=30)
    for _ in range(30):  # a healthy half hour: 80 % hits
        for outcome in [Outcome.EXACT] * 4 + [Outcome.MISS]:
            recorder.record("faq", "m", result(outcome))
        clock.now += 60
        rollup.roll_up()
    assert rollup.alerts() == []
    for _ in range(5):  # then a prompt change nobody versioned: 10 % hits
        for outcome in [Outcome.EXACT] + [Outcome.MISS] * 9:
            recorder.record("faq", "m", result(outcome))
        clock.now += 60
        rollup.roll_up()
    (alert,) = rollup.alerts()
    assert alert.namespace == "faq" and alert.recent_hit_rate < 0.2 and alert.baseline_hit_rate > 0.7
    found = samples(exposition(client, Keyspace(key_prefix), clock))
    assert found[key("llmcache_hit_rate_alert", namespace="faq")] == 1
