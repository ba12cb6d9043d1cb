"""The producer API: submit jobs, get results by handle. Only Celery's client side runs here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery.result import AsyncResult

from llmcache.shared.config import Settings
from llmcache.shared.jobs import Job, JobResult
from llmcache.shared.models import CacheRequest
from llmcache.workers.app import JOB_TASK, create_app


@dataclass(frozen=True)
class JobHandle:
    job_id: str
    custom_id: str | None
    _async: AsyncResult

    def ready(self) -> bool:
        return bool(self._async.ready())

    def result(self, timeout: float | None = None) -> JobResult:
        """The job's result (answer, cache outcome, usage, cost). Errors of the job itself come back as a result
        with outcome `error`; a failure of the task machinery raises."""
        payload: dict[str, Any] = self._async.get(timeout=timeout, propagate=True, disable_sync_subtasks=False)
        return JobResult.model_validate(payload)


class LLMCacheClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app = create_app(settings)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def app(self) -> Any:
        return self._app

    def submit(self, job: Job | CacheRequest, *, priority: int | None = None) -> JobHandle:
        item = job if isinstance(job, Job) else Job(request=job)
        options: dict[str, Any] = {"task_id": item.job_id}
        if priority is not None:
            options["priority"] = priority
        sent = self._app.send_task(JOB_TASK, kwargs={"job": item.model_dump(mode="json")}, **options)
        return JobHandle(item.job_id, item.custom_id, sent)

    def submit_many(self, jobs: Iterable[Job | CacheRequest], *, priority: int | None = None) -> list[JobHandle]:
        return [self.submit(job, priority=priority) for job in jobs]

    def handle(self, job_id: str) -> JobHandle:
        return JobHandle(job_id, None, AsyncResult(job_id, app=self._app))

    def call(self, task: str, *args: Any, timeout: float = 600.0) -> Any:
        """Run a maintenance task on a worker (the worker owns the index) and wait for its answer."""
        return self._app.send_task(task, args=list(args)).get(timeout=timeout)

    def close(self) -> None:
        self._app.close()
