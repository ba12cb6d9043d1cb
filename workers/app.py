"""The Celery app factory: everything from settings, JSON only, late acks, one prefetch for LLM jobs."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging
from kombu.entity import Queue

from llmcache.scheduler.schedule import build_schedule
from llmcache.shared.config import Settings

QUEUES = ("llm", "maintenance", "metrics")
JOB_TASK = "llmcache.run_job"
# single jobs' results wait this long at most for their producer (batch runs use no result backend at all)
RESULT_EXPIRES_MAX_SECONDS = 3600


def create_app(settings: Settings) -> Celery:
    workers = settings.workers
    broker = workers.broker_url or settings.redis_url
    backend = workers.result_backend or settings.redis_url
    app = Celery("llmcache", broker=broker, backend=backend, set_as_current=False)
    keyprefix = f"{settings.key_prefix}:celery:"
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],  # pickle refused
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="llm",
        task_routes={
            JOB_TASK: {"queue": "llm"},
            "llmcache.batch.*": {"queue": "llm"},
            "llmcache.maintenance.*": {"queue": "maintenance"},
            "llmcache.metrics.*": {"queue": "metrics"},
        },
        task_time_limit=workers.job_time_limit_seconds + 30,
        task_soft_time_limit=workers.job_time_limit_seconds,
        result_expires=min(workers.result_expires_seconds, RESULT_EXPIRES_MAX_SECONDS),
        result_extended=False,  # a result is the answer only: no copy of the request, args and kwargs
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": workers.visibility_timeout_seconds,
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "sep": ":",
            "global_keyprefix": keyprefix,
        },
        result_backend_transport_options={"global_keyprefix": keyprefix},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,  # the redirect logs every structlog line at WARNING
        worker_send_task_events=False,
        beat_schedule=celery_schedule(settings),
        timezone="UTC",
    )
    setup_logging.connect(_keep_llmcache_logging, weak=False, dispatch_uid="llmcache-logging")
    from llmcache.workers.tasks import (
        register_tasks,  # tasks need the app; imported here so that nothing runs at import
    )

    resources = register_tasks(app, settings)
    from llmcache.workers.batch_api_tasks import (
        register_batch_api_tasks,  # `batch run --via batch-api`: lookups, stores
    )

    register_batch_api_tasks(app, resources)
    return app


def _keep_llmcache_logging(**_: Any) -> None:
    """Celery configures no logging of its own (llmcache.shared.logging already did, with real levels), and its per-task
    info lines stay quiet: "received" and "succeeded in ...: <result>", which would print the answer text."""
    import logging

    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)


def celery_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, entry in build_schedule(settings).items():
        when: Any = crontab(**entry.cron) if entry.cron is not None else entry.every_seconds
        item: dict[str, Any] = {"task": entry.task, "schedule": when, "kwargs": dict(entry.kwargs)}
        if entry.priority is not None:
            item["options"] = {"priority": entry.priority}
        out[name] = item
    return out
