"""Anthropic's Message Batches through the official SDK: `messages.batches.create / retrieve / results / cancel`.

Outcomes per request: `succeeded` is an answer (priced at the batch price, prompt-cache prices stacking);
`errored` is that request's error, retryable unless it is an invalid request or an authentication/permission
error; `canceled` and `expired` requests never ran and are retryable.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anthropic
import structlog
from anthropic.types.messages import MessageBatch

from llmcache.shared.config import RetrySettings
from llmcache.shared.jobs import JobError
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.anthropic_provider import AnthropicProvider
from llmcache.shared.providers.batch_api.base import (
    BatchItem,
    BatchLimits,
    ItemResult,
    JobProgress,
    SubmittedJob,
    missing,
)
from llmcache.shared.providers.retry import call_with_retries
from llmcache.shared.providers.sdk_errors import sdk_call

log = structlog.get_logger("llmcache.providers.batch_api.anthropic")
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
LIMITS = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024, one_model_per_job=False)
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
PERMANENT = frozenset({"invalid_request_error", "authentication_error", "permission_error", "not_found_error"})
T = TypeVar("T")


class AnthropicBatchClient:
    def __init__(
        self,
        client: anthropic.Anthropic,
        provider: AnthropicProvider,
        retry: RetrySettings,
        limits: BatchLimits = LIMITS,
    ) -> None:
        self._client = client
        self._provider = provider
        self._retry = retry
        self._limits = limits

    @property
    def provider(self) -> ProviderName:
        return "anthropic"

    @property
    def limits(self) -> BatchLimits:
        return self._limits

    def _call(self, call: Callable[[], T]) -> T:
        return call_with_retries(self._retry, lambda: sdk_call("anthropic", call))

    def _entry(self, item: BatchItem) -> dict[str, Any]:
        if not CUSTOM_ID.match(item.custom_id):
            raise ValueError(f"custom_id {item.custom_id!r}: Anthropic takes 1-64 letters, digits, '_' or '-'")
        params = self._provider.build_kwargs(item.request, item.prompt_cache_ttl)  # the synchronous call's params
        params.update(params.pop("extra_body", None) or {})
        return {"custom_id": item.custom_id, "params": params}

    def encode(self, item: BatchItem) -> bytes:
        return json.dumps(self._entry(item), ensure_ascii=False, separators=(",", ":")).encode()

    def submit(self, items: Sequence[BatchItem], metadata: dict[str, str] | None = None) -> SubmittedJob:
        requests: Any = [self._entry(item) for item in items]
        batch = self._call(lambda: self._client.messages.batches.create(requests=requests))
        log.info("provider_batch_submitted", provider="anthropic", batch_id=batch.id, requests=len(items))
        return SubmittedJob(
            provider="anthropic",
            batch_id=batch.id,
            custom_ids=[item.custom_id for item in items],
            submitted_at=time.time(),
        )

    @staticmethod
    def _progress(batch: MessageBatch) -> JobProgress:
        counts = batch.request_counts
        failed = counts.errored + counts.canceled + counts.expired
        return JobProgress(
            provider="anthropic",
            batch_id=batch.id,
            status=batch.processing_status,
            ended=batch.processing_status == "ended",
            total=counts.processing + counts.succeeded + failed,
            done=counts.succeeded,
            failed=failed,
        )

    def progress(self, batch_id: str) -> JobProgress:
        return self._progress(self._call(lambda: self._client.messages.batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> JobProgress:
        return self._progress(self._call(lambda: self._client.messages.batches.cancel(batch_id)))

    def results(self, job: SubmittedJob) -> list[ItemResult]:
        found: dict[str, ItemResult] = {}
        for row in self._call(lambda: list(self._client.messages.batches.results(job.batch_id))):
            result = row.result
            if result.type == "succeeded":
                message = result.message
                completion = self._provider.completion_from(message.model, message, batch=True)
                found[row.custom_id] = ItemResult(custom_id=row.custom_id, completion=completion)
            elif result.type == "errored":
                kind = result.error.error.type
                status = ERROR_STATUS.get(kind, 500)
                error = JobError(
                    type=kind, message=result.error.error.message, status=status, retryable=kind not in PERMANENT
                )
                found[row.custom_id] = ItemResult(custom_id=row.custom_id, error=error)
            else:  # canceled / expired: never ran
                why = f"the request was {result.type} before it ran (Message Batch {job.batch_id})"
                error = JobError(type=f"batch_{result.type}", message=why, status=None, retryable=True)
                found[row.custom_id] = ItemResult(custom_id=row.custom_id, error=error)
        why = f"Message Batch {job.batch_id} returned no result for this request"
        return [found.get(cid) or missing(cid, why) for cid in job.custom_ids]
