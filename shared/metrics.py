"""Metrics: workers record raw counters and latencies per minute in Redis; the metrics worker rolls closed minutes
up per namespace/model (hit rates, latency percentiles, tokens, dollars), keeps running totals for Prometheus and
raises an alert when a namespace's hit rate drops well below its recent baseline."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import redis
import structlog
from pydantic import BaseModel

from shared.jobs import JobResult, Outcome
from shared.keyspace import Keyspace

log = structlog.get_logger("llmcache.metrics")
RAW_RETENTION_SECONDS = 2 * 24 * 3600
LATENCY_SAMPLES_PER_MINUTE = 10_000
COUNTERS = (
    "requests", "exact", "semantic", "coalesced", "miss", "error", "provider_calls",
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "spent_usd", "saved_usd",
)  # fmt: skip
HIT_OUTCOMES = (Outcome.EXACT, Outcome.SEMANTIC, Outcome.COALESCED)


def current_minute(now: float | None = None) -> int:
    return int((now if now is not None else time.time()) // 60)


def group_of(namespace: str, model: str) -> str:
    return f"{namespace}|{model}"


class MetricsRecorder:
    """Called by workers for every finished job: a few HINCRBY in one round trip."""

    def __init__(self, client: redis.Redis, keyspace: Keyspace, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._keys = keyspace
        self._clock = clock

    def record(self, namespace: str, model: str, result: JobResult) -> None:
        minute = current_minute(self._clock())
        group = group_of(namespace, model)
        raw = self._keys.metrics_minute(minute)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(raw, f"{group}|requests", 1)
        pipe.hincrby(raw, f"{group}|{result.outcome.value}", 1)
        if result.provider_called and result.completion is not None:
            usage = result.completion.usage
            pipe.hincrby(raw, f"{group}|provider_calls", 1)
            pipe.hincrby(raw, f"{group}|input_tokens", usage.input_tokens)
            pipe.hincrby(raw, f"{group}|cache_read_tokens", usage.cache_read_tokens)
            pipe.hincrby(raw, f"{group}|cache_write_tokens", usage.cache_write_5m_tokens + usage.cache_write_1h_tokens)
            pipe.hincrby(raw, f"{group}|output_tokens", usage.output_tokens)
        if result.cost_usd:
            pipe.hincrbyfloat(raw, f"{group}|spent_usd", result.cost_usd)
        if result.saved_usd:
            pipe.hincrbyfloat(raw, f"{group}|saved_usd", result.saved_usd)
        pipe.expire(raw, RAW_RETENTION_SECONDS)
        kind = "hit" if result.outcome in HIT_OUTCOMES else "miss"
        latency = self._keys.metrics_latency(minute, group, kind)
        pipe.rpush(latency, round(result.latency_ms, 3))
        pipe.ltrim(latency, -LATENCY_SAMPLES_PER_MINUTE, -1)
        pipe.expire(latency, RAW_RETENTION_SECONDS)
        pipe.sadd(self._keys.metrics_groups(), group)
        pipe.execute()


class MinuteRollup(BaseModel):
    minute: int
    namespace: str
    model: str
    counters: dict[str, float]
    hit_rate: float
    hit_latency_p50_ms: float | None
    hit_latency_p95_ms: float | None
    miss_latency_p50_ms: float | None
    miss_latency_p95_ms: float | None


class HitRateAlert(BaseModel):
    namespace: str
    recent_hit_rate: float
    baseline_hit_rate: float
    recent_requests: int
    baseline_requests: int
    minute: int


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _percentiles(samples: list[float]) -> tuple[float | None, float | None]:
    if not samples:
        return None, None
    values = np.asarray(samples)
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


class MetricsRollup:
    """Run by the metrics worker (beat schedules it every minute). Idempotent: a minute is rolled once."""

    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace,
        *,
        clock: Callable[[], float] = time.time,
        recent_minutes: int = 5,
        baseline_minutes: int = 60,
        drop_ratio: float = 0.5,
        min_requests: int = 20,
    ) -> None:
        self._redis = client
        self._keys = keyspace
        self._clock = clock
        self._recent = recent_minutes
        self._baseline = baseline_minutes
        self._drop_ratio = drop_ratio
        self._min_requests = min_requests

    def roll_up(self, include_current: bool = False, lookback_minutes: int = 120) -> list[MinuteRollup]:
        """Roll up every closed minute of the lookback window not rolled yet (the current one too on request:
        it is then rolled again later, replacing its entry)."""
        now_minute = current_minute(self._clock())
        last = now_minute if include_current else now_minute - 1
        rolled: list[MinuteRollup] = []
        for minute in range(now_minute - lookback_minutes, last + 1):
            marker = f"{minute}"
            if minute != now_minute and self._redis.zscore(self._keys.metrics_rolled(), marker) is not None:
                continue
            rolled += self._roll_minute(minute, replace=minute == now_minute)
            if minute != now_minute:
                self._redis.zadd(self._keys.metrics_rolled(), {marker: minute})
        self._redis.zremrangebyscore(self._keys.metrics_rolled(), "-inf", now_minute - lookback_minutes - 1)
        for namespace in {r.namespace for r in rolled}:
            self.check_hit_rate(namespace)
        return rolled

    def _roll_minute(self, minute: int, replace: bool) -> list[MinuteRollup]:
        raw = {_decode(k): float(v) for k, v in self._redis.hgetall(self._keys.metrics_minute(minute)).items()}
        by_group: dict[str, dict[str, float]] = defaultdict(dict)
        for field, value in raw.items():
            group, counter = field.rsplit("|", 1)
            by_group[group][counter] = value
        results = []
        for group, counters in by_group.items():
            namespace, model = group.split("|", 1)
            hits = [float(x) for x in self._redis.lrange(self._keys.metrics_latency(minute, group, "hit"), 0, -1)]
            misses = [float(x) for x in self._redis.lrange(self._keys.metrics_latency(minute, group, "miss"), 0, -1)]
            requests = counters.get("requests", 0.0)
            hit_count = sum(counters.get(o.value, 0.0) for o in HIT_OUTCOMES)
            rollup = MinuteRollup(
                minute=minute, namespace=namespace, model=model, counters={c: counters.get(c, 0.0) for c in COUNTERS},
                hit_rate=hit_count / requests if requests else 0.0,
                hit_latency_p50_ms=_percentiles(hits)[0], hit_latency_p95_ms=_percentiles(hits)[1],
                miss_latency_p50_ms=_percentiles(misses)[0], miss_latency_p95_ms=_percentiles(misses)[1],
            )  # fmt: skip
            series = self._keys.metrics_series(group)
            pipe = self._redis.pipeline(transaction=True)
            previous = self._redis.zrangebyscore(series, minute, minute)
            if previous:
                pipe.zremrangebyscore(series, minute, minute)
            pipe.zadd(series, {rollup.model_dump_json(): minute})
            pipe.zremrangebyscore(series, "-inf", minute - 7 * 24 * 60)
            if not replace:
                for counter, value in rollup.counters.items():
                    if value:
                        pipe.hincrbyfloat(self._keys.metrics_totals(group), counter, value)
            pipe.execute()
            results.append(rollup)
        return results

    def series(self, namespace: str | None = None, minutes: int = 60) -> list[MinuteRollup]:
        start = current_minute(self._clock()) - minutes
        out: list[MinuteRollup] = []
        for group in self.groups():
            if namespace is not None and not group.startswith(f"{namespace}|"):
                continue
            for raw in self._redis.zrangebyscore(self._keys.metrics_series(group), start, "+inf"):
                out.append(MinuteRollup.model_validate_json(_decode(raw)))
        return sorted(out, key=lambda r: (r.minute, r.namespace, r.model))

    def groups(self) -> list[str]:
        return sorted(_decode(g) for g in self._redis.smembers(self._keys.metrics_groups()))

    def totals(self) -> dict[str, dict[str, float]]:
        """Running totals of rolled-up minutes per namespace|model group."""
        return {
            group: {_decode(k): float(v) for k, v in self._redis.hgetall(self._keys.metrics_totals(group)).items()}
            for group in self.groups()
        }

    def live_totals(self, lookback_minutes: int = 120) -> dict[str, dict[str, float]]:
        """Totals of rolled-up minutes plus the raw counters of minutes not rolled up yet (the current one too):
        exact at any moment, without waiting for the next roll-up."""
        totals = {group: dict(values) for group, values in self.totals().items()}
        now_minute = current_minute(self._clock())
        for minute in range(now_minute - lookback_minutes, now_minute + 1):
            if minute != now_minute and self._redis.zscore(self._keys.metrics_rolled(), f"{minute}") is not None:
                continue
            for field, value in self._redis.hgetall(self._keys.metrics_minute(minute)).items():
                group, counter = _decode(field).rsplit("|", 1)
                row = totals.setdefault(group, {})
                row[counter] = row.get(counter, 0.0) + float(value)
        return totals

    def check_hit_rate(self, namespace: str) -> HitRateAlert | None:
        now_minute = current_minute(self._clock())
        rollups = self.series(namespace, minutes=self._recent + self._baseline + 1)
        recent = [r for r in rollups if r.minute > now_minute - 1 - self._recent]
        baseline = [r for r in rollups if r.minute <= now_minute - 1 - self._recent]

        def rate(rows: list[MinuteRollup]) -> tuple[float, int]:
            requests = sum(r.counters["requests"] for r in rows)
            hits = sum(r.counters[o.value] for r in rows for o in HIT_OUTCOMES)
            return (hits / requests if requests else 0.0), int(requests)

        recent_rate, recent_requests = rate(recent)
        baseline_rate, baseline_requests = rate(baseline)
        key = self._keys.metrics_alert(namespace)
        dropped = (
            recent_requests >= self._min_requests
            and baseline_requests >= self._min_requests
            and recent_rate < baseline_rate * self._drop_ratio
        )
        if not dropped:
            self._redis.delete(key)
            return None
        alert = HitRateAlert(
            namespace=namespace, recent_hit_rate=recent_rate, baseline_hit_rate=baseline_rate,
            recent_requests=recent_requests, baseline_requests=baseline_requests, minute=now_minute,
        )  # fmt: skip
        self._redis.set(key, alert.model_dump_json(), ex=3600)
        log.warning("hit_rate_dropped", **alert.model_dump())
        return alert

    def alerts(self) -> list[HitRateAlert]:
        found = []
        for group in self.groups():
            namespace = group.split("|", 1)[0]
            raw = self._redis.get(self._keys.metrics_alert(namespace))
            if raw is not None:
                found.append(HitRateAlert.model_validate_json(raw))
        return list({a.namespace: a for a in found}.values())


def prometheus_families(rollup: MetricsRollup) -> Iterator[Any]:
    """Metric families for a prometheus_client custom collector, read from Redis at scrape time."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    requests = CounterMetricFamily("llmcache_requests", "Jobs by outcome", labels=["namespace", "model", "outcome"])
    tokens = CounterMetricFamily("llmcache_provider_tokens", "Provider tokens", labels=["namespace", "model", "kind"])
    dollars = CounterMetricFamily("llmcache_dollars", "Dollars spent and saved", labels=["namespace", "model", "kind"])
    calls = CounterMetricFamily("llmcache_provider_calls", "Provider calls", labels=["namespace", "model"])
    for group, totals in rollup.live_totals().items():
        namespace, model = group.split("|", 1)
        for outcome in Outcome:
            requests.add_metric([namespace, model, outcome.value], totals.get(outcome.value, 0.0))
        for kind in ("input", "cache_read", "cache_write", "output"):
            tokens.add_metric([namespace, model, kind], totals.get(f"{kind}_tokens", 0.0))
        dollars.add_metric([namespace, model, "spent"], totals.get("spent_usd", 0.0))
        dollars.add_metric([namespace, model, "saved"], totals.get("saved_usd", 0.0))
        calls.add_metric([namespace, model], totals.get("provider_calls", 0.0))
    hit_rate = GaugeMetricFamily(
        "llmcache_hit_rate", "Hit rate of the last rolled-up minute", labels=["namespace", "model"]
    )
    latency = GaugeMetricFamily(
        "llmcache_latency_ms",
        "Latency percentiles of the last rolled-up minute",
        labels=["namespace", "model", "kind", "quantile"],
    )
    latest: dict[tuple[str, str], MinuteRollup] = {}
    for row in rollup.series(minutes=10):
        latest[(row.namespace, row.model)] = row
    for (namespace, model), row in latest.items():
        hit_rate.add_metric([namespace, model], row.hit_rate)
        for kind, p50, p95 in (
            ("hit", row.hit_latency_p50_ms, row.hit_latency_p95_ms),
            ("miss", row.miss_latency_p50_ms, row.miss_latency_p95_ms),
        ):
            if p50 is not None and p95 is not None:
                latency.add_metric([namespace, model, kind, "0.5"], p50)
                latency.add_metric([namespace, model, kind, "0.95"], p95)
    alert = GaugeMetricFamily(
        "llmcache_hit_rate_alert", "1 while a namespace's hit rate is far below its baseline", labels=["namespace"]
    )
    for item in rollup.alerts():
        alert.add_metric([item.namespace], 1.0)
    yield from (requests, tokens, dollars, calls, hit_rate, latency, alert)


def dumps_stats(rollup: MetricsRollup, minutes: int = 60) -> str:
    return json.dumps(
        {
            "totals": rollup.live_totals(),
            "recent": [r.model_dump() for r in rollup.series(minutes=minutes)],
            "alerts": [a.model_dump() for a in rollup.alerts()],
        },
        indent=2,
    )
