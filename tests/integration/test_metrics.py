"""Metrics roll-up and the hit-rate alert on real Redis, with a controlled clock."""

from __future__ import annotations

import redis

from shared.jobs import JobResult, Outcome
from shared.keyspace import Keyspace
from shared.metrics import MetricsRecorder, MetricsRollup
from shared.models import Completion, Usage


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


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


def test_rollup_counts_rates_latency_and_totals(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    recorder = MetricsRecorder(client, Keyspace(key_prefix), clock=clock)
    rollup = MetricsRollup(client, Keyspace(key_prefix), clock=clock)
    for outcome, latency in [
        (Outcome.MISS, 400.0),
        (Outcome.EXACT, 1.0),
        (Outcome.SEMANTIC, 9.0),
        (Outcome.EXACT, 2.0),
    ]:
        recorder.record("faq", "m", result(outcome, latency))
    assert rollup.live_totals()["faq|m"]["requests"] == 4  # visible before any roll-up
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


def test_alert_when_the_hit_rate_falls_well_below_its_baseline(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    recorder = MetricsRecorder(client, Keyspace(key_prefix), clock=clock)
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
