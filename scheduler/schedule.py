"""The beat schedule, built from settings, as plain data (workers/app.py turns it into Celery's form).
Beat only enqueues: every task runs on a worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmcache.shared.config import Settings

LOW_PRIORITY = 9  # 0 is the highest on the Redis transport


@dataclass(frozen=True)
class Entry:
    task: str
    every_seconds: float | None = None
    cron: dict[str, int] | None = None  # minute / hour (UTC)
    priority: int | None = None
    kwargs: dict[str, object] = field(default_factory=dict)


def build_schedule(settings: Settings) -> dict[str, Entry]:
    workers = settings.workers
    schedule = {
        "sweep-expired": Entry("llmcache.maintenance.sweep_expired", every_seconds=workers.sweep_expired_seconds),
        "sweep-stale-versions": Entry(
            "llmcache.maintenance.sweep_stale_versions", every_seconds=workers.sweep_stale_versions_seconds
        ),
        "metrics-rollup": Entry("llmcache.metrics.rollup", every_seconds=workers.metrics_rollup_seconds),
    }
    if workers.warmup_dir is not None:
        schedule["warm-up"] = Entry(
            "llmcache.maintenance.warm_up", cron={"minute": 0, "hour": workers.warmup_hour_utc}, priority=LOW_PRIORITY
        )
    return schedule
