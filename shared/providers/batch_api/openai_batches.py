"""OpenAI's Batch API through the official SDK: a JSONL input file (`files.create(purpose="batch")`), one model
per job, `batches.create / retrieve / cancel`, and the output and error files (`files.content`).

Outcomes per request: an output line with status 200 is an answer (priced at the batch price); any other status is
that request's error, retryable for 408/409/429/5xx; error-file lines without a response carry OpenAI's code
(`batch_expired`, `batch_cancelled`: retryable). A `failed` batch (its file did not validate) fails every request:
the line errors OpenAI lists name their line, and only rate/token-limit failures are retryable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import openai
import structlog
from openai.types import Batch
from openai.types.chat import ChatCompletion

from llmcache.shared.config import RetrySettings
from llmcache.shared.jobs import JobError
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.batch_api.base import (
    BatchItem,
    BatchLimits,
    ItemResult,
    JobProgress,
    SubmittedJob,
    missing,
)
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.retry import call_with_retries
from llmcache.shared.providers.sdk_errors import is_retryable_status, sdk_call

log = structlog.get_logger("llmcache.providers.batch_api.openai")
ENDPOINT: Final = "/v1/chat/completions"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
RETRYABLE_CODES = frozenset({"batch_expired", "batch_cancelled", "token_limit_exceeded", "rate_limit_exceeded"})
LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024, one_model_per_job=True)
T = TypeVar("T")


class OpenAIBatchClient:
    def __init__(
        self, client: openai.OpenAI, provider: OpenAIProvider, retry: RetrySettings, limits: BatchLimits = LIMITS
    ) -> None:
        self._client = client
        self._provider = provider
        self._retry = retry
        self._limits = limits

    @property
    def provider(self) -> ProviderName:
        return "openai"

    @property
    def limits(self) -> BatchLimits:
        return self._limits

    def _call(self, call: Callable[[], T]) -> T:
        return call_with_retries(self._retry, lambda: sdk_call("openai", call))

    def encode(self, item: BatchItem) -> bytes:
        body = self._provider.build_kwargs(item.request)  # the same body a synchronous call sends
        body.update(body.pop("extra_body", None) or {})
        line = {"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()

    def submit(self, items: Sequence[BatchItem], metadata: dict[str, str] | None = None) -> SubmittedJob:
        models = {item.request.model for item in items}
        if len(models) != 1:
            raise ValueError(f"an OpenAI batch holds one model, got {sorted(models)}")
        content = b"".join(self.encode(item) + b"\n" for item in items)
        uploaded = self._call(
            lambda: self._client.files.create(file=("llmcache-batch.jsonl", content), purpose="batch")
        )
        batch = self._call(
            lambda: self._client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h", metadata=metadata
            )
        )
        log.info(
            "provider_batch_submitted", provider="openai", batch_id=batch.id, requests=len(items), bytes=len(content)
        )
        return SubmittedJob(
            provider="openai",
            batch_id=batch.id,
            model=models.pop(),
            custom_ids=[item.custom_id for item in items],
            input_file_id=uploaded.id,
            submitted_at=time.time(),
        )

    def _progress(self, batch: Batch) -> JobProgress:
        counts = batch.request_counts
        return JobProgress(
            provider="openai",
            batch_id=batch.id,
            status=batch.status,
            ended=batch.status in ENDED,
            total=counts.total if counts else 0,
            done=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
        )

    def progress(self, batch_id: str) -> JobProgress:
        return self._progress(self._call(lambda: self._client.batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> JobProgress:
        return self._progress(self._call(lambda: self._client.batches.cancel(batch_id)))

    def results(self, job: SubmittedJob) -> list[ItemResult]:
        batch = self._call(lambda: self._client.batches.retrieve(job.batch_id))
        if batch.status == "failed":
            return self._failed(job, batch)
        found: dict[str, ItemResult] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id is None:
                continue
            text = self._content(file_id)
            for number, raw in enumerate(text.splitlines(), 1):
                if raw.strip():
                    item = self._line(job, number, raw)
                    if item is not None and item.custom_id in job.custom_ids:
                        found[item.custom_id] = item
        why = f"OpenAI batch {job.batch_id} ended {batch.status} without a result for this request"
        return [found.get(cid) or missing(cid, why) for cid in job.custom_ids]

    def _content(self, file_id: str) -> str:
        return self._call(lambda: self._client.files.content(file_id)).text

    def _line(self, job: SubmittedJob, number: int, raw: str) -> ItemResult | None:
        try:
            row = json.loads(raw)
            custom_id = str(row["custom_id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("provider_batch_line_unreadable", provider="openai", batch_id=job.batch_id, line=number)
            return None
        response: dict[str, Any] | None = row.get("response")
        if response is not None and response.get("status_code") == 200:
            body = ChatCompletion.model_validate(response.get("body") or {})
            body._request_id = response.get("request_id")
            completion = self._provider.completion_from(body.model or job.model or "", body, batch=True)
            return ItemResult(custom_id=custom_id, completion=completion)
        if response is not None:
            status = int(response.get("status_code") or 500)
            error_body = (response.get("body") or {}).get("error") or {}
            message = str(error_body.get("message") or f"HTTP {status}")
            return ItemResult(
                custom_id=custom_id,
                error=JobError(
                    type="ProviderError", message=message, status=status, retryable=is_retryable_status(status)
                ),
            )
        error = row.get("error") or {}
        code = str(error.get("code") or "unknown")
        return ItemResult(
            custom_id=custom_id,
            error=JobError(
                type=code, message=str(error.get("message") or code), status=None, retryable=code in RETRYABLE_CODES
            ),
        )

    def _failed(self, job: SubmittedJob, batch: Batch) -> list[ItemResult]:
        """The input file did not validate: every request fails, with its own line's error where OpenAI named one."""
        errors = list(batch.errors.data or []) if batch.errors is not None else []
        by_line = {e.line: e for e in errors if e.line is not None}
        general = next((e for e in errors if e.line is None), errors[0] if errors else None)
        out: list[ItemResult] = []
        for number, custom_id in enumerate(job.custom_ids, 1):
            error = by_line.get(number) or general
            code = (error.code if error else None) or "batch_failed"
            message = (error.message if error else None) or f"OpenAI batch {job.batch_id} failed"
            if error is not None and error.line is not None and error.line != number:
                message = f"the batch failed validation (line {error.line}: {message})"
            out.append(
                ItemResult(
                    custom_id=custom_id,
                    error=JobError(type=code, message=message, status=400, retryable=code in RETRYABLE_CODES),
                )
            )
        return out
