"""OpenAI Batch API and Anthropic Message Batches files: input lines to jobs, results to output lines.

Input, one JSON object a line, auto-detected per file:
- OpenAI:    {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
- Anthropic: {"custom_id", "params": {...}}
Either may carry an `llmcache` object: namespace, tenant, user, no_cache, no_store, ttl_seconds, threshold.
Output lines follow the provider's result format, plus an `llmcache` field (outcome, similarity, cost, saving).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.jobs import Job, JobOverrides, JobResult, Outcome
from shared.models import CacheRequest, Completion, Scope

BatchFormat = Literal["openai", "anthropic"]
OPENAI_URL = "/v1/chat/completions"


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


def detect_format(raw: dict[str, Any]) -> BatchFormat | None:
    if "body" in raw and "url" in raw:
        return "openai"
    if "params" in raw:
        return "anthropic"
    return None


def _describe(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return f"{prefix}{'.' + location if location else ''}: {first['msg']}"


def parse_line(number: int, text: str, fmt: BatchFormat, defaults: LineOptions) -> ParsedLine | LineError:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return LineError(number, None, f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
    if not isinstance(raw, dict):
        return LineError(number, None, f"line {number}: expected a JSON object")
    custom_id = raw.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return LineError(number, None, f"line {number}: custom_id: a non-empty string is required")
    found = detect_format(raw)
    if found != fmt:
        return LineError(number, custom_id, f"line {number}: not an {fmt} batch line (this file is {fmt})")
    try:
        options = LineOptions.model_validate(raw.get("llmcache") or {}).merged_over(defaults)
    except ValidationError as error:
        return LineError(number, custom_id, f"line {number}: {_describe(error, 'llmcache')}")
    try:
        request = _openai_request(raw, options) if fmt == "openai" else _anthropic_request(raw, options)
    except (ValidationError, ValueError) as error:
        prefix = "body" if fmt == "openai" else "params"
        detail = _describe(error, prefix) if isinstance(error, ValidationError) else str(error)
        return LineError(number, custom_id, f"line {number}: {detail}")
    overrides = JobOverrides(
        no_cache=bool(options.no_cache),
        no_store=bool(options.no_store),
        ttl_seconds=options.ttl_seconds,
        threshold=options.threshold,
    )
    return ParsedLine(number, custom_id, Job(custom_id=custom_id, request=request, overrides=overrides))


def _scope(options: LineOptions) -> Scope:
    return Scope(tenant=options.tenant or "default", user=options.user)


def _openai_request(raw: dict[str, Any], options: LineOptions) -> CacheRequest:
    if raw.get("method", "POST") != "POST":
        raise ValueError("method: only POST is supported")
    if raw.get("url") != OPENAI_URL:
        raise ValueError(f"url: only {OPENAI_URL} is supported, got {raw.get('url')!r}")
    body = raw.get("body")
    if not isinstance(body, dict):
        raise ValueError("body: a JSON object is required")
    params = {k: v for k, v in body.items() if k not in ("model", "messages")}
    return CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": body.get("model"),
            "messages": body.get("messages"),
            "params": params,
            "namespace": options.namespace or "default",
            "scope": _scope(options),
        }
    )


def _anthropic_request(raw: dict[str, Any], options: LineOptions) -> CacheRequest:
    params = raw.get("params")
    if not isinstance(params, dict):
        raise ValueError("params: a JSON object is required")
    if not isinstance(params.get("max_tokens"), int):
        raise ValueError("params.max_tokens: an integer is required by Anthropic")
    rest = {k: v for k, v in params.items() if k not in ("model", "messages", "system")}
    return CacheRequest.model_validate(
        {
            "provider": "anthropic",
            "model": params.get("model"),
            "messages": params.get("messages"),
            "system": params.get("system"),
            "params": rest,
            "namespace": options.namespace or "default",
            "scope": _scope(options),
        }
    )


def parse_file(lines: list[str], defaults: LineOptions) -> tuple[BatchFormat, list[ParsedLine | LineError]]:
    """Every non-blank line parsed; the format is the first recognisable line's. Duplicate custom_ids are found
    before anything runs: every occurrence after the first becomes an error line."""
    fmt: BatchFormat = "openai"
    for text in lines:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(raw, dict) and (found := detect_format(raw)) is not None:
            fmt = found
            break
    parsed = [parse_line(number, text, fmt, defaults) for number, text in enumerate(lines, 1) if text.strip()]
    counts = Counter(p.custom_id for p in parsed if p.custom_id is not None)
    seen: dict[str, int] = {}
    out: list[ParsedLine | LineError] = []
    for item in parsed:
        cid = item.custom_id
        if cid is not None and counts[cid] > 1:
            if cid in seen:
                out.append(
                    LineError(item.line, cid, f"line {item.line}: custom_id {cid!r} duplicates line {seen[cid]}")
                )
                continue
            seen[cid] = item.line
        out.append(item)
    return fmt, out


def _meta(result: JobResult | None, line: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"line": line}
    if result is not None:
        meta.update(
            outcome=result.outcome.value,
            similarity=result.similarity,
            provider_called=result.provider_called,
            cost_usd=result.cost_usd,
            saved_usd=result.saved_usd,
            job_id=result.job_id,
        )
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


def result_line(fmt: BatchFormat, line: int, custom_id: str, result: JobResult) -> dict[str, Any]:
    batch_id = "batch_req_" + hashlib.sha256(f"{custom_id}\x00{line}".encode()).hexdigest()[:24]
    if result.outcome is Outcome.ERROR or result.completion is None:
        message = result.error.message if result.error else "no answer"
        status = result.error.status if result.error and result.error.status else 500
        return error_line(fmt, line, custom_id, message, status=status, result=result)
    if fmt == "openai":
        return {
            "id": batch_id,
            "custom_id": custom_id,
            "response": {
                "status_code": 200,
                "request_id": result.completion.provider_request_id,
                "body": _openai_body(result.completion),
            },
            "error": None,
            "llmcache": _meta(result, line),
        }
    return {
        "custom_id": custom_id,
        "result": {"type": "succeeded", "message": _anthropic_message(result.completion)},
        "llmcache": _meta(result, line),
    }


def error_line(
    fmt: BatchFormat,
    line: int,
    custom_id: str | None,
    message: str,
    *,
    status: int = 400,
    result: JobResult | None = None,
) -> dict[str, Any]:
    if fmt == "openai":
        batch_id = "batch_req_" + hashlib.sha256(f"{custom_id}\x00{line}".encode()).hexdigest()[:24]
        return {
            "id": batch_id,
            "custom_id": custom_id,
            "response": None,
            "error": {"code": "invalid_request" if status == 400 else f"http_{status}", "message": message},
            "llmcache": _meta(result, line),
        }
    error_type = "invalid_request_error" if status == 400 else "api_error"
    return {
        "custom_id": custom_id,
        "result": {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": message}}},
        "llmcache": _meta(result, line),
    }
