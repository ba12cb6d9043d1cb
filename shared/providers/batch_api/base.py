"""The contract of a provider Batch API client, and what every client shares: items, jobs, progress, per-item
results, splitting to the provider's limits and polling with backoff.

A client turns `BatchItem`s (a custom_id of the caller's choosing and a CacheRequest) into provider batch jobs
(`submit`, split beforehand by `split` to the provider's request and byte limits and, where the provider requires
it, one model per job), reports a job's `progress`, fetches its `results` (exactly one `ItemResult` per submitted
custom_id: a Completion priced at the batch price, or a JobError with `retryable` set where re-submitting can
help) and `cancel`s it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay
from tenacity.wait import wait_exponential

from llmcache.shared.jobs import JobError
from llmcache.shared.models import CacheRequest, Completion, ProviderName
from llmcache.shared.providers.prompt_cache import PromptCacheTTL


class BatchItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    custom_id: str
    request: CacheRequest
    prompt_cache_ttl: PromptCacheTTL = "5m"


class BatchLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_requests: Annotated[int, Field(ge=1)]
    max_bytes: Annotated[int, Field(ge=1)]
    one_model_per_job: bool = False


class SubmittedJob(BaseModel):
    """One provider batch job: what to record so that a restarted run can pick it up."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    batch_id: str
    model: str | None = None
    custom_ids: list[str]
    input_file_id: str | None = None
    submitted_at: float


class JobProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    batch_id: str
    status: str  # the provider's own word: validating / in_progress / ... or in_progress / canceling / ended
    ended: bool  # results (or the failure) are final
    total: int
    done: int  # answered so far, as far as the provider says
    failed: int


class ItemResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    custom_id: str
    completion: Completion | None = None
    error: JobError | None = None


@runtime_checkable
class BatchAPIClient(Protocol):
    @property
    def provider(self) -> ProviderName: ...

    @property
    def limits(self) -> BatchLimits: ...

    def encode(self, item: BatchItem) -> bytes:
        """The item as the provider's batch input takes it (one JSONL line; one entry of `requests`)."""
        ...

    def submit(self, items: Sequence[BatchItem], metadata: dict[str, str] | None = None) -> SubmittedJob: ...

    def progress(self, batch_id: str) -> JobProgress: ...

    def results(self, job: SubmittedJob) -> list[ItemResult]:
        """One result per custom_id of the job (only once `progress(...).ended`)."""
        ...

    def cancel(self, batch_id: str) -> JobProgress: ...


def split(client: BatchAPIClient, items: Sequence[BatchItem]) -> list[list[BatchItem]]:
    """Items grouped into jobs within the provider's limits: at most `max_requests` items and `max_bytes` of
    encoded input per job, and one model per job where the provider requires it. Order is kept within a group."""
    limits = client.limits
    groups: dict[str, list[BatchItem]] = {}
    for item in items:
        groups.setdefault(item.request.model if limits.one_model_per_job else "", []).append(item)
    jobs: list[list[BatchItem]] = []
    for members in groups.values():
        current: list[BatchItem] = []
        size = 0
        for item in members:
            length = len(client.encode(item)) + 1
            if length > limits.max_bytes:
                raise ValueError(f"custom_id {item.custom_id}: one request of {length} bytes exceeds the batch limit")
            if current and (len(current) >= limits.max_requests or size + length > limits.max_bytes):
                jobs.append(current)
                current, size = [], 0
            current.append(item)
            size += length
        if current:
            jobs.append(current)
    return jobs


class PollPolicy(BaseModel):
    """How long to wait between progress checks (exponential, capped) and for how long in all."""

    model_config = ConfigDict(frozen=True)

    initial_seconds: Annotated[float, Field(gt=0)] = 1.0
    max_seconds: Annotated[float, Field(gt=0)] = 60.0
    give_up_after_seconds: Annotated[float, Field(gt=0)] = 26 * 3600.0  # the 24 h window and some slack


def wait_until_ended(
    client: BatchAPIClient,
    batch_id: str,
    policy: PollPolicy,
    on_progress: Callable[[JobProgress], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> JobProgress:
    """Poll `progress` with exponential backoff until the job has ended (tenacity). Raises TimeoutError when the
    job has not ended after `give_up_after_seconds`."""

    def check() -> JobProgress:
        progress = client.progress(batch_id)
        if on_progress is not None:
            on_progress(progress)
        return progress

    def gave_up(state: RetryCallState) -> JobProgress:
        raise TimeoutError(f"batch {batch_id} had not ended after {policy.give_up_after_seconds:.0f} s")

    retrying = Retrying(
        retry=retry_if_result(lambda progress: not progress.ended),
        wait=wait_exponential(multiplier=policy.initial_seconds, max=policy.max_seconds),
        stop=stop_after_delay(policy.give_up_after_seconds),
        retry_error_callback=gave_up,
        sleep=sleep,
    )
    result: JobProgress = retrying(check)
    return result


def missing(custom_id: str, why: str) -> ItemResult:
    """A submitted item the provider returned nothing for: re-submitting it can help."""
    return ItemResult(
        custom_id=custom_id, error=JobError(type="BatchResultMissing", message=why, status=None, retryable=True)
    )
