"""Metrics. Workers record every finished job in Redis in one MULTI/EXEC: running totals and a latency histogram
(what Prometheus scrapes, one pipelined round trip per scrape) and per-minute raw counters and latencies (what the
roll-up turns into per-minute rows for `llmcache stats` and the hit-rate alert). The roll-up only ever replaces a
minute's row, so running it twice, or in two processes at once, changes nothing; `stats` reads and never writes."""

from __future__ import annotations

import dataclasses
import json
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import redis
import structlog
from pydantic import BaseModel

from llmcache.shared.jobs import JobResult, Outcome
from llmcache.shared.redis_keys import Keyspace

log = structlog.get_logger("llmcache.metrics")
RAW_RETENTION_SECONDS = 2 * 24 * 3600
SERIES_RETENTION_MINUTES = 7 * 24 * 60
LATENCY_SAMPLES_PER_MINUTE = 10_000
ALERT_TTL_MINUTES = 60
COUNTERS = (
    "requests", "exact", "semantic", "coalesced", "miss", "error", "provider_calls",
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "spent_usd", "saved_usd",
)  # fmt: skip
HIT_OUTCOMES = (Outcome.EXACT, Outcome.SEMANTIC, Outcome.COALESCED)
# upper bounds (seconds) of the job latency histogram: a hit takes milliseconds, a provider call seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
OTHER_MODEL = "other"
# counters other callers may add with `MetricsRecorder.count`: name in Redis -> Prometheus family and help
EXTRA_COUNTERS: dict[str, tuple[str, str]] = {
    "store_failed": ("llmcache_store_failures", "Answers paid for whose store then failed"),
    "alias_failed": ("llmcache_alias_write_failures", "Semantic hits whose alias entry could not be written"),
}


def current_minute(now: float | None = None) -> int:
    return int((now if now is not None else time.time()) // 60)


def group_of(namespace: str, model: str) -> str:
    return f"{namespace}|{model}"


def result_of(outcome: Outcome) -> str:
    """The hit/miss side of an outcome: exact, semantic and coalesced are hits."""
    if outcome in HIT_OUTCOMES:
        return "hit"
    return "miss" if outcome is Outcome.MISS else "error"


def guard_reason_label(reason: str) -> str:
    """A bounded label for a guard reason: "contrast:open/close" -> "contrast"."""
    return reason.split(":", 1)[0] or "unknown"


class ModelLabels:
    """Bounds the `model` label: a model of the pricing table (a dated snapshot name counts as its table name,
    like the pricing does), anything else "other". One label value per table row, however many models run."""

    def __init__(self, known: Collection[str]) -> None:
        self._known = frozenset(known)
        self._by_length = sorted(self._known, key=len, reverse=True)
        self._memo: dict[str, str] = {}

    @classmethod
    def from_pricing(cls) -> ModelLabels:
        from llmcache.shared.providers.pricing import PricingTable

        return cls(PricingTable.load().models)

    def __call__(self, model: str) -> str:
        found = self._memo.get(model)
        if found is None:
            if model in self._known:
                found = model
            else:
                found = next((name for name in self._by_length if model.startswith(name)), OTHER_MODEL)
            if len(self._memo) < 10_000:
                self._memo[model] = found
        return found


@dataclasses.dataclass
class _Sums:
    """What a batch of finished jobs adds to the metrics, summed per Redis hash field."""

    counts: defaultdict[tuple[str, str], int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    amounts: defaultdict[tuple[str, str], float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    expiring: set[str] = dataclasses.field(default_factory=set)
    latencies: defaultdict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    groups: set[str] = dataclasses.field(default_factory=set)


class MetricsRecorder:
    """Called by workers for every finished job: one MULTI/EXEC round trip."""

    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace,
        clock: Callable[[], float] = time.time,
        *,
        models: Collection[str] | None = None,
    ) -> None:
        """`models`: the model label values (default: the shipped pricing table's models)."""
        self._redis = client
        self._keys = keyspace
        self._clock = clock
        self._label = ModelLabels(models) if models is not None else ModelLabels.from_pricing()

    def model_label(self, model: str) -> str:
        return self._label(model)

    def record(self, namespace: str, model: str, result: JobResult) -> None:
        self.record_many([(namespace, model, result)])

    def record_many(self, finished: Iterable[tuple[str, str, JobResult]]) -> None:
        """`record` for many jobs (a batch chunk's lines) in one MULTI/EXEC round trip, their counters summed per
        field first (a chunk of hits is a few dozen commands, not a few dozen a job)."""
        minute = current_minute(self._clock())
        sums = _Sums()
        for namespace, model, result in finished:
            self._add(sums, minute, namespace, model, result)
        if not sums.groups:
            return
        pipe = self._redis.pipeline(transaction=True)
        for (key, counter), value in sums.counts.items():
            pipe.hincrby(key, counter, value)
        for (key, counter), amount in sums.amounts.items():
            pipe.hincrbyfloat(key, counter, amount)
        for key in sums.expiring:
            pipe.expire(key, RAW_RETENTION_SECONDS)
        for key, samples in sums.latencies.items():
            pipe.rpush(key, *samples)
            pipe.ltrim(key, -LATENCY_SAMPLES_PER_MINUTE, -1)
            pipe.expire(key, RAW_RETENTION_SECONDS)
        pipe.sadd(self._keys.metrics_groups(), *sorted(sums.groups))
        pipe.execute()

    def _add(self, sums: _Sums, minute: int, namespace: str, model: str, result: JobResult) -> None:
        group = group_of(namespace, self._label(model))
        raw = self._keys.metrics_minute(minute)
        totals = self._keys.metrics_counters()
        counts: dict[str, int] = {"requests": 1, result.outcome.value: 1}
        amounts: dict[str, float] = {}
        if result.provider_called and result.completion is not None:
            usage = result.completion.usage
            counts["provider_calls"] = 1
            counts["input_tokens"] = usage.input_tokens
            counts["cache_read_tokens"] = usage.cache_read_tokens
            counts["cache_write_tokens"] = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
            counts["output_tokens"] = usage.output_tokens
        elif result.outcome in HIT_OUTCOMES and result.completion is not None:
            usage = result.completion.usage  # what the cached answer cost when it was paid for
            counts["served_input_tokens"] = (
                usage.input_tokens + usage.cache_read_tokens + usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
            )
            counts["served_output_tokens"] = usage.output_tokens
        if result.cost_usd:
            amounts["spent_usd"] = result.cost_usd
        if result.saved_usd:
            amounts["saved_usd"] = result.saved_usd
        for counter, value in counts.items():
            if value:
                sums.counts[(raw, f"{group}|{counter}")] += value
                sums.counts[(totals, f"{group}|{counter}")] += value
        for counter, amount in amounts.items():
            sums.amounts[(raw, f"{group}|{counter}")] += amount
            sums.amounts[(totals, f"{group}|{counter}")] += amount
        sums.expiring.add(raw)
        seconds = max(result.latency_ms, 0.0) / 1000
        histogram = self._keys.metrics_histogram()
        series = f"{group}|{result.outcome.value}"
        sums.counts[(histogram, f"{series}|{bisect_left(LATENCY_BUCKETS, seconds)}")] += 1
        sums.counts[(histogram, f"{series}|count")] += 1
        sums.amounts[(histogram, f"{series}|sum")] += seconds
        kind = "hit" if result.outcome in HIT_OUTCOMES else "miss"
        sums.latencies[self._keys.metrics_latency(minute, group, kind)].append(round(result.latency_ms, 3))
        sums.groups.add(group)

    def record_guard_refusal(self, namespace: str, reasons: Iterable[str]) -> None:
        """The guard refused a lookup's nearest candidate: one count per (bounded) reason."""
        labels = {guard_reason_label(r) for r in reasons} or {"unknown"}
        pipe = self._redis.pipeline(transaction=True)
        for label in sorted(labels):
            pipe.hincrby(self._keys.metrics_guard(), f"{namespace}|{label}", 1)
        pipe.execute()

    def count(self, namespace: str, model: str, counter: str, amount: int = 1) -> None:
        """Add to a running counter (e.g. "store_failed"; exported when it is in EXTRA_COUNTERS)."""
        group = group_of(namespace, self._label(model))
        self._redis.hincrby(self._keys.metrics_counters(), f"{group}|{counter}", amount)


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


def _split_counters(raw: Mapping[Any, Any]) -> dict[str, dict[str, float]]:
    """{"ns|model|counter": v} -> {"ns|model": {"counter": v}}."""
    by_group: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in raw.items():
        group, counter = _decode(field).rsplit("|", 1)
        by_group[group][counter] = float(value)
    return dict(by_group)


class MetricsRollup:
    """Per-minute rows and the hit-rate alert. `roll_up` (the metrics worker, every minute) writes rows of closed
    minutes once, all of one call in a single MULTI/EXEC; a minute's row is replaced, never added to, so a repeated
    or concurrent roll-up is harmless. Everything else here only reads."""

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

    def _unrolled(self, first: int, last: int) -> list[int]:
        done = {int(float(score)) for _, score in self._rolled_markers(first, last)}
        return [m for m in range(first, last + 1) if m not in done]

    def _rolled_markers(self, first: int, last: int) -> list[Any]:
        return list(self._redis.zrangebyscore(self._keys.metrics_rolled(), first, last, withscores=True))

    def compute(self, minutes: Sequence[int]) -> list[MinuteRollup]:
        """Rows of the given minutes from their raw counters and latencies: two pipelined round trips, no write."""
        if not minutes:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(self._keys.metrics_minute(minute))
        raws = pipe.execute()
        groups = [(minute, _split_counters(raw)) for minute, raw in zip(minutes, raws, strict=True) if raw]
        pipe = self._redis.pipeline(transaction=False)
        for minute, by_group in groups:
            for group in by_group:
                pipe.lrange(self._keys.metrics_latency(minute, group, "hit"), 0, -1)
                pipe.lrange(self._keys.metrics_latency(minute, group, "miss"), 0, -1)
        lists = iter(pipe.execute())
        rows: list[MinuteRollup] = []
        for minute, by_group in groups:
            for group, counters in by_group.items():
                namespace, model = group.split("|", 1)
                hits = [float(x) for x in next(lists)]
                misses = [float(x) for x in next(lists)]
                requests = counters.get("requests", 0.0)
                hit_count = sum(counters.get(o.value, 0.0) for o in HIT_OUTCOMES)
                hit_p50, hit_p95 = _percentiles(hits)
                miss_p50, miss_p95 = _percentiles(misses)
                rows.append(
                    MinuteRollup(
                        minute=minute,
                        namespace=namespace,
                        model=model,
                        counters={c: counters.get(c, 0.0) for c in COUNTERS},
                        hit_rate=hit_count / requests if requests else 0.0,
                        hit_latency_p50_ms=hit_p50,
                        hit_latency_p95_ms=hit_p95,
                        miss_latency_p50_ms=miss_p50,
                        miss_latency_p95_ms=miss_p95,
                    )
                )
        return rows

    def roll_up(self, include_current: bool = False, lookback_minutes: int = 120) -> list[MinuteRollup]:
        """Write the rows of every closed minute of the lookback window not rolled yet (the current minute too on
        request, without marking it rolled: it is rolled again later, replacing its row)."""
        now_minute = current_minute(self._clock())
        first = now_minute - lookback_minutes
        todo = self._unrolled(first, now_minute - 1) + ([now_minute] if include_current else [])
        rows = self.compute(todo)
        pipe = self._redis.pipeline(transaction=True)
        for row in rows:
            series = self._keys.metrics_series(group_of(row.namespace, row.model))
            pipe.zremrangebyscore(series, row.minute, row.minute)
            pipe.zadd(series, {row.model_dump_json(): row.minute})
            pipe.zremrangebyscore(series, "-inf", row.minute - SERIES_RETENTION_MINUTES)
        closed = {str(m): m for m in todo if m != now_minute}
        if closed:
            pipe.zadd(self._keys.metrics_rolled(), closed)
        pipe.zremrangebyscore(self._keys.metrics_rolled(), "-inf", first - 1)
        pipe.execute()
        for namespace in sorted({r.namespace for r in rows}):
            self.check_hit_rate(namespace)
        return rows

    def series(self, namespace: str | None = None, minutes: int = 60) -> list[MinuteRollup]:
        """Rows already rolled up, of the last `minutes` minutes."""
        start = current_minute(self._clock()) - minutes
        groups = [g for g in self.groups() if namespace is None or g.startswith(f"{namespace}|")]
        pipe = self._redis.pipeline(transaction=False)
        for group in groups:
            pipe.zrangebyscore(self._keys.metrics_series(group), start, "+inf")
        out = [MinuteRollup.model_validate_json(_decode(raw)) for rows in pipe.execute() for raw in rows]
        return sorted(out, key=lambda r: (r.minute, r.namespace, r.model))

    def report(self, minutes: int = 60, lookback_minutes: int = 120) -> list[MinuteRollup]:
        """Rolled-up rows plus rows computed (not written) for the minutes not rolled yet, the current one too:
        what `llmcache stats` shows. Read-only."""
        now_minute = current_minute(self._clock())
        pending = [*self._unrolled(now_minute - min(minutes, lookback_minutes), now_minute - 1), now_minute]
        fresh = self.compute(pending)
        replaced = {(r.minute, r.namespace, r.model) for r in fresh}
        stored = [r for r in self.series(minutes=minutes) if (r.minute, r.namespace, r.model) not in replaced]
        return sorted(stored + fresh, key=lambda r: (r.minute, r.namespace, r.model))

    def groups(self) -> list[str]:
        return sorted(_decode(g) for g in self._redis.smembers(self._keys.metrics_groups()))

    def totals(self) -> dict[str, dict[str, float]]:
        """Running totals per namespace|model group, exact at any moment (the recorder keeps them)."""
        return _split_counters(self._redis.hgetall(self._keys.metrics_counters()))

    def live_totals(self) -> dict[str, dict[str, float]]:
        """The same as `totals` (kept for callers of the earlier roll-up based totals)."""
        return self.totals()

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
        dropped = (
            recent_requests >= self._min_requests
            and baseline_requests >= self._min_requests
            and recent_rate < baseline_rate * self._drop_ratio
        )
        if not dropped:
            self._redis.hdel(self._keys.metrics_alerts(), namespace)
            return None
        alert = HitRateAlert(
            namespace=namespace, recent_hit_rate=recent_rate, baseline_hit_rate=baseline_rate,
            recent_requests=recent_requests, baseline_requests=baseline_requests, minute=now_minute,
        )  # fmt: skip
        self._redis.hset(self._keys.metrics_alerts(), namespace, alert.model_dump_json())
        log.warning("hit_rate_dropped", **alert.model_dump())
        return alert

    def alerts(self) -> list[HitRateAlert]:
        return _live_alerts(self._redis.hgetall(self._keys.metrics_alerts()), current_minute(self._clock()))


def _live_alerts(raw: Mapping[Any, Any], now_minute: int) -> list[HitRateAlert]:
    """Alerts raised within the last hour (a namespace that stops getting traffic is no longer checked)."""
    found = [HitRateAlert.model_validate_json(_decode(v)) for v in raw.values()]
    return sorted((a for a in found if a.minute >= now_minute - ALERT_TTL_MINUTES), key=lambda a: a.namespace)


class ScrapeSnapshot(BaseModel):
    """Everything one scrape exports, read in one pipelined round trip."""

    counters: dict[str, dict[str, float]]
    histogram: dict[str, dict[str, float]]  # "ns|model|outcome" -> {"0".."N", "sum", "count"}
    guard: dict[str, float]  # "ns|reason" -> refusals
    queues: dict[str, int]  # queue -> messages waiting (all priorities)
    alerts: list[HitRateAlert]


PRIORITY_STEPS = tuple(range(10))  # as llmcache.workers.app configures kombu's priority queues


def read_snapshot(
    client: redis.Redis, keyspace: Keyspace, queues: Sequence[str], clock: Callable[[], float] = time.time
) -> ScrapeSnapshot:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keyspace.metrics_counters())
    pipe.hgetall(keyspace.metrics_histogram())
    pipe.hgetall(keyspace.metrics_guard())
    pipe.hgetall(keyspace.metrics_alerts())
    for queue in queues:
        base = keyspace.celery_queue(queue)
        for step in PRIORITY_STEPS:
            pipe.llen(base if step == 0 else f"{base}:{step}")
    counters, histogram, guard, alerts, *lengths = pipe.execute()
    depth = {
        queue: int(sum(lengths[i * len(PRIORITY_STEPS) : (i + 1) * len(PRIORITY_STEPS)]))
        for i, queue in enumerate(queues)
    }
    return ScrapeSnapshot(
        counters=_split_counters(counters),
        histogram=_split_counters(histogram),
        guard={_decode(k): float(v) for k, v in guard.items()},
        queues=depth,
        alerts=_live_alerts(alerts, current_minute(clock())),
    )


def prometheus_families(snapshot: ScrapeSnapshot, workers_alive: Mapping[str, int] | None = None) -> Iterator[Any]:
    """Metric families for a prometheus_client custom collector, from one scrape's snapshot."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    group_labels = ["namespace", "model"]
    requests = CounterMetricFamily("llmcache_requests", "Jobs by outcome", labels=[*group_labels, "outcome"])
    calls = CounterMetricFamily("llmcache_provider_calls", "Provider calls", labels=group_labels)
    tokens = CounterMetricFamily(
        "llmcache_provider_tokens", "Tokens of paid provider calls: input (uncached), cache_read, cache_write, "
        "output", labels=[*group_labels, "kind"],
    )  # fmt: skip
    served = CounterMetricFamily(
        "llmcache_served_tokens", "Tokens of the answers served from the cache (input, output), not paid again",
        labels=[*group_labels, "kind"],
    )  # fmt: skip
    dollars = CounterMetricFamily("llmcache_dollars", "Dollars spent and saved", labels=[*group_labels, "kind"])
    extras = {
        name: CounterMetricFamily(family, help_text, labels=group_labels)
        for name, (family, help_text) in EXTRA_COUNTERS.items()
    }
    for group, totals in sorted(snapshot.counters.items()):
        labels = group.split("|", 1)
        for outcome in Outcome:
            requests.add_metric([*labels, outcome.value], totals.get(outcome.value, 0.0))
        calls.add_metric(labels, totals.get("provider_calls", 0.0))
        for kind in ("input", "cache_read", "cache_write", "output"):
            tokens.add_metric([*labels, kind], totals.get(f"{kind}_tokens", 0.0))
        for kind in ("input", "output"):
            served.add_metric([*labels, kind], totals.get(f"served_{kind}_tokens", 0.0))
        dollars.add_metric([*labels, "spent"], totals.get("spent_usd", 0.0))
        dollars.add_metric([*labels, "saved"], totals.get("saved_usd", 0.0))
        for name, family in extras.items():
            family.add_metric(labels, totals.get(name, 0.0))
    latency = HistogramMetricFamily(
        "llmcache_request_latency_seconds",
        "Job latency from start to result by outcome: a hit's is its lookup, a miss's includes the provider call",
        labels=[*group_labels, "outcome", "result"],
    )
    for series, fields in sorted(snapshot.histogram.items()):
        namespace, model, outcome_name = series.split("|", 2)
        running = 0.0
        buckets: list[tuple[str, float]] = []
        for index, bound in enumerate(LATENCY_BUCKETS):
            running += fields.get(str(index), 0.0)
            buckets.append((repr(bound), running))
        buckets.append(("+Inf", fields.get("count", 0.0)))
        known = outcome_name in {o.value for o in Outcome}
        result = result_of(Outcome(outcome_name)) if known else "error"
        latency.add_metric([namespace, model, outcome_name, result], buckets, sum_value=fields.get("sum", 0.0))
    refusals = CounterMetricFamily(
        "llmcache_guard_refusals", "Semantic candidates the false-hit guard refused, by reason (a refusal with "
        "two reasons counts under both)", labels=["namespace", "reason"],
    )  # fmt: skip
    for field, value in sorted(snapshot.guard.items()):
        refusals.add_metric(field.split("|", 1), value)
    depth = GaugeMetricFamily("llmcache_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
    for queue, length in sorted(snapshot.queues.items()):
        depth.add_metric([queue], float(length))
    alert = GaugeMetricFamily(
        "llmcache_hit_rate_alert", "1 while a namespace's hit rate is far below its baseline", labels=["namespace"]
    )
    for item in snapshot.alerts:
        alert.add_metric([item.namespace], 1.0)
    yield from (requests, calls, tokens, served, dollars, *extras.values(), latency, refusals, depth, alert)
    if workers_alive is not None:
        alive = GaugeMetricFamily(
            "llmcache_workers_alive", "Worker processes that answered the last ping, by the queues they consume",
            labels=["queues"],
        )  # fmt: skip
        for queues, count in sorted(workers_alive.items()):
            alive.add_metric([queues], float(count))
        yield alive


def dumps_stats(rollup: MetricsRollup, minutes: int = 60) -> str:
    return json.dumps(
        {
            "totals": rollup.totals(),
            "recent": [r.model_dump() for r in rollup.report(minutes=minutes)],
            "alerts": [a.model_dump() for a in rollup.alerts()],
        },
        indent=2,
    )
