"""OpenAI Batch API and Anthropic Message Batches files: the input options and the output lines.

Input, one JSON object a line, auto-detected per file:
- OpenAI:    {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
- Anthropic: {"custom_id", "params": {...}}
Either may carry an `llmcache` object: namespace, tenant, user, no_cache, no_store, ttl_seconds, threshold.

Output lines follow the provider's result format, plus an `llmcache` field (line, digest, outcome, similarity,
cost, saving; `retryable` on an error). As in the Batch APIs:
- OpenAI: a request the provider refused or failed has its HTTP status and error body under `response` (and
  `error: null`); a line that never reached the provider (bad input, timeout, lost work) has `response: null` and
  `error: {code, message}`.
- Anthropic: `result: {"type": "errored", "error": {"type": "error", "error": {"type", "message"}}}`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from llmcache.shared.jobs import Job, JobResult, Outcome
from llmcache.shared.models import Completion

BatchFormat = Literal["openai", "anthropic"]
OPENAI_URL = "/v1/chat/completions"

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


class LineOptions(BaseModel):
    """The optional `llmcache` object of an input line (and the CLI's defaults for it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str | None = None
    tenant: str | None = None
    user: str | None = None
    no_cache: bool | None = None
    no_store: bool | None = None
    ttl_seconds: int | None = Field(default=None, gt=0)
    threshold: float | None = Field(default=None, ge=0, le=1)

    def merged_over(self, defaults: LineOptions) -> LineOptions:
        own = self.model_dump(exclude_none=True)
        if not own:
            return defaults
        return LineOptions.model_validate({**defaults.model_dump(exclude_none=True), **own})


@dataclass(frozen=True)
class ParsedLine:
    line: int
    custom_id: str
    job: Job


@dataclass(frozen=True)
class LineError:
    line: int
    custom_id: str | None
    message: str


def encode_line(row: dict[str, Any]) -> str:
    """One output line's JSON (compact, UTF-8 text as is; orjson: the rows of a warm run are mostly this). What
    orjson refuses (an integer beyond 64 bits in a provider's body) is written by the standard library, the same
    way."""
    try:
        return orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def detect_format(raw: dict[str, Any]) -> BatchFormat | None:
    if "body" in raw and "url" in raw:
        return "openai"
    if "params" in raw:
        return "anthropic"
    return None


def batch_request_id(custom_id: str | None, line: int) -> str:
    return "batch_req_" + hashlib.sha256(f"{custom_id}\x00{line}".encode()).hexdigest()[:24]


def _meta(result: JobResult | None, line: int, digest: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"line": line}
    if digest is not None:
        meta["digest"] = digest
    if result is not None:
        meta.update(
            outcome=result.outcome.value,
            similarity=result.similarity,
            provider_called=result.provider_called,
            cost_usd=result.cost_usd,
            saved_usd=result.saved_usd,
            job_id=result.job_id,
        )
        if result.error is not None:
            meta["retryable"] = result.error.retryable
    return meta


def _openai_body(completion: Completion) -> dict[str, Any]:
    if completion.raw_response is not None:
        return dict(completion.raw_response)
    usage = completion.usage
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    return {
        "object": "chat.completion",
        "model": completion.model,
        "choices": [{"index": 0, "message": message, "finish_reason": completion.finish_reason}],
        "usage": {
            "prompt_tokens": usage.total_input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        },
    }


def _anthropic_message(completion: Completion) -> dict[str, Any]:
    if completion.raw_response is not None:
        return dict(completion.raw_response)
    usage = completion.usage
    content: list[Any] = [{"type": "text", "text": completion.text}] if completion.text else []
    return {
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": content + list(completion.tool_calls),
        "stop_reason": completion.finish_reason,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens,
            "cache_creation_input_tokens": usage.cache_write_5m_tokens + usage.cache_write_1h_tokens,
        },
    }


def result_line(
    fmt: BatchFormat, line: int, custom_id: str, result: JobResult, *, digest: str | None = None
) -> dict[str, Any]:
    if result.outcome is Outcome.ERROR or result.completion is None:
        error = result.error
        message = error.message if error else "no answer"
        if error is not None and error.status is not None:
            return failed_request_line(fmt, line, custom_id, error.status, message, result=result, digest=digest)
        code = _error_code(error.type if error else "")
        return error_line(fmt, line, custom_id, message, code=code, result=result, digest=digest)
    if fmt == "openai":
        return {
            "id": batch_request_id(custom_id, line),
            "custom_id": custom_id,
            "response": {
                "status_code": 200,
                "request_id": result.completion.provider_request_id,
                "body": _openai_body(result.completion),
            },
            "error": None,
            "llmcache": _meta(result, line, digest),
        }
    return {
        "custom_id": custom_id,
        "result": {"type": "succeeded", "message": _anthropic_message(result.completion)},
        "llmcache": _meta(result, line, digest),
    }


def _error_code(error_type: str) -> str:
    """A non-HTTP failure's `error.code`: what kind of failure, in the Batch API's snake case."""
    known = {
        "RetryableProviderError": "provider_unavailable",
        "RateLimitWaitTooLongError": "rate_limit_wait_too_long",
        "BackendError": "backend_error",
        "WorkerLost": "worker_lost",
        "ConfigurationError": "invalid_request",
        "InvalidRequestError": "invalid_request",
    }
    return known.get(error_type, "internal_error")


def failed_request_line(
    fmt: BatchFormat,
    line: int,
    custom_id: str | None,
    status: int,
    message: str,
    *,
    result: JobResult | None = None,
    digest: str | None = None,
) -> dict[str, Any]:
    """A request the provider answered with an HTTP error: OpenAI puts its status and body under `response`."""
    if fmt == "openai":
        error_type = OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {
            "id": batch_request_id(custom_id, line),
            "custom_id": custom_id,
            "response": {
                "status_code": status,
                "request_id": None,
                "body": {"error": {"message": message, "type": error_type, "param": None, "code": None}},
            },
            "error": None,
            "llmcache": _meta(result, line, digest),
        }
    error_type = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {
        "custom_id": custom_id,
        "result": {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": message}}},
        "llmcache": _meta(result, line, digest),
    }


def error_line(
    fmt: BatchFormat,
    line: int,
    custom_id: str | None,
    message: str,
    *,
    code: str = "invalid_request",
    result: JobResult | None = None,
    digest: str | None = None,
    retryable: bool = False,
    duplicate_of: int | None = None,
) -> dict[str, Any]:
    """A line that never got a provider answer: bad input, a timeout, lost work, a backend failure."""
    meta = _meta(result, line, digest)
    meta.setdefault("outcome", Outcome.ERROR.value)
    meta.setdefault("retryable", retryable)
    if duplicate_of is not None:
        meta["duplicate_of"] = duplicate_of
    if fmt == "openai":
        return {
            "id": batch_request_id(custom_id, line),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
            "llmcache": meta,
        }
    error_type = "invalid_request_error" if code == "invalid_request" else "api_error"
    return {
        "custom_id": custom_id,
        "result": {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": message}}},
        "llmcache": meta,
    }


def follower_line(
    leader: dict[str, Any],
    line: int,
    custom_id: str,
    digest: str | None,
    *,
    saved_usd: float,
    similarity: float | None,
) -> str:
    """A follower's output line from its leader's: the same answer (or error), its own ids, outcome `coalesced`,
    `similarity` to the leader (None: the identical request), `leader` the leader's custom_id."""
    row = dict(leader)
    leader_meta = dict(row.get("llmcache") or {})
    failed = leader_meta.get("outcome") == Outcome.ERROR.value
    if "id" in row:
        row["id"] = batch_request_id(custom_id, line)
    row["custom_id"] = custom_id
    meta: dict[str, Any] = {"line": line}
    if digest is not None:
        meta["digest"] = digest
    meta.update(
        outcome=Outcome.ERROR.value if failed else Outcome.COALESCED.value,
        similarity=similarity,
        provider_called=False,
        cost_usd=0.0,
        saved_usd=0.0 if failed else saved_usd,
        leader=leader.get("custom_id"),
    )
    if failed:
        meta["retryable"] = bool(leader_meta.get("retryable"))
    row["llmcache"] = meta
    return encode_line(row)
