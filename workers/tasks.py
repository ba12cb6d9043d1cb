"""Celery tasks. Each is a thin shell around the `shared` core; policy (retries, waiting) is explicit here."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready

from llmcache.scheduler.schedule import LOW_PRIORITY
from llmcache.scheduler.warmup import intent_files, load_intents
from llmcache.shared.config import Settings
from llmcache.shared.jobs import Job, JobOverrides
from llmcache.shared.models import Miss, PurgeSelector
from llmcache.shared.pipeline import Deferred
from llmcache.workers.batch.service import BatchWorker
from llmcache.workers.batch.settings import BatchSettings
from llmcache.workers.resources import WorkerResources

log = structlog.get_logger("llmcache.tasks")


def register_tasks(app: Celery, settings: Settings) -> WorkerResources:
    resources = WorkerResources(settings)
    app.llmcache_resources = resources
    max_waits = int(settings.workers.inflight_lock_seconds / 2.0) + 10  # countdowns cap at 2 s

    @worker_ready.connect(weak=False)
    def _prewarm(sender: Any = None, **_: Any) -> None:
        queues = {q.name for q in sender.app.amqp.queues.consume_from.values()} if sender is not None else set()
        resources.prewarm(model="llm" in queues)  # the model and the index before the first job, not during it

    @worker_process_init.connect(weak=False)
    def _fresh_resources(**_: Any) -> None:  # a forked child must not reuse the parent's connections
        resources.close()

    @app.task(bind=True, name="llmcache.run_job", acks_late=True, max_retries=None)
    def run_job(self: Task, job: dict[str, Any], waits: int = 0) -> dict[str, Any]:
        parsed = Job.model_validate(job)
        structlog.contextvars.bind_contextvars(job_id=parsed.job_id, custom_id=parsed.custom_id)
        try:
            outcome = resources.processor.process(parsed, waits=waits)
            if isinstance(outcome, Deferred):
                if waits >= max_waits:  # a dead leader's lock expires well before this: something else holds it
                    raise RuntimeError(f"job {parsed.job_id} waited {waits} times on an in-flight leader")
                raise self.retry(kwargs={"job": job, "waits": waits + 1}, countdown=outcome.countdown)
            return outcome.model_dump(mode="json")
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "custom_id")

    batch_worker = BatchWorker(resources, BatchSettings())

    @app.task(bind=True, name="llmcache.batch.lookup", acks_late=True, ignore_result=True)
    def batch_lookup(self: Task, chunk: str) -> None:
        """A chunk of a `batch run`: its hits and bad lines answered, its misses sent back once per request key."""
        batch_worker.lookup(chunk, worker=self.request.hostname)

    @app.task(bind=True, name="llmcache.batch.answer", acks_late=True, ignore_result=True)
    def batch_answer(self: Task, chunk: str) -> None:
        """Distinct misses of a `batch run`, answered through the worker's `MissAnswerer` and stored in groups."""
        batch_worker.answer(chunk, worker=self.request.hostname)

    @app.task(name="llmcache.maintenance.sweep_expired")
    def sweep_expired() -> dict[str, Any]:
        return resources.runtime.cache.sweep_expired().model_dump()

    @app.task(name="llmcache.maintenance.sweep_stale_versions")
    def sweep_stale_versions() -> dict[str, Any]:
        return resources.runtime.cache.sweep_stale_versions().model_dump()

    @app.task(name="llmcache.maintenance.invalidate")
    def invalidate(namespace: str, version: str) -> dict[str, Any]:
        return resources.runtime.cache.invalidate(namespace, version).model_dump()

    @app.task(name="llmcache.maintenance.purge")
    def purge(selector: dict[str, Any]) -> dict[str, Any]:
        return resources.runtime.cache.purge(PurgeSelector.model_validate(selector)).model_dump()

    @app.task(name="llmcache.maintenance.warm_up")
    def warm_up(folder: str | None = None) -> dict[str, Any]:
        return _warm_up(app, resources, settings, folder)

    @app.task(name="llmcache.metrics.rollup")
    def metrics_rollup() -> dict[str, Any]:
        rolled = resources.rollup().roll_up()
        return {"minutes_rolled": len({r.minute for r in rolled}), "groups": len(rolled)}

    return resources


def _warm_up(app: Celery, resources: WorkerResources, settings: Settings, folder: str | None) -> dict[str, Any]:
    """Enqueue, at low priority, the intents that are not cached or expire within the refresh window."""
    from pathlib import Path

    base = Path(folder) if folder else settings.workers.warmup_dir
    counts = {"enqueued": 0, "refreshing": 0, "fresh": 0, "errors": 0}
    if base is None:
        return counts
    cache = resources.runtime.cache
    horizon = time.time() + settings.workers.warmup_refresh_before_seconds
    for namespace, path in intent_files(base).items():
        jobs, errors = load_intents(settings, namespace, path)
        counts["errors"] += len(errors)
        for error in errors:
            log.warning("warmup_line_rejected", file=str(path), message=error.message)
        for job, found in zip(jobs, cache.lookup_many([j.request for j in jobs]), strict=True):
            if isinstance(found, Miss):
                counts["enqueued"] += 1
                to_send = job
            elif found.entry.expires_at.timestamp() < horizon:
                to_send = job.model_copy(update={"overrides": JobOverrides(no_cache=True)})
                counts["refreshing"] += 1
            else:
                counts["fresh"] += 1
                continue
            app.send_task("llmcache.run_job", kwargs={"job": to_send.model_dump(mode="json")}, priority=LOW_PRIORITY)
    log.info("warm_up_done", at=datetime.now(UTC).isoformat(), **counts)
    return counts
