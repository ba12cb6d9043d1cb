"""OpenAI's Batch API, emulated: `/v1/batches` create, retrieve, list, cancel over files from `files.py`.

Lifecycle as documented: `validating` -> `in_progress` -> `finalizing` -> `completed`, or `failed` (the input file
does not validate: `errors.data` names each bad line), `expired` (part of the requests ran out of the completion
window: they are in the error file with `batch_expired`), `cancelling` -> `cancelled`. Each phase lasts as long as
`EmulatorConfig.batch_*_seconds` says; the state advances whenever the batch is read. Answered requests go to the
output file, failed ones (a bad body, an injected fault) to the error file with the HTTP status and error body
under `response`; both files are in no particular order. Requests are answered by the chat endpoint's own logic at
batch prices.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from llmcache.testing.emulator import files
from llmcache.testing.emulator.batch_common import answered_count, may_finish, now, requested_fault, shuffled
from llmcache.testing.emulator.chat import ROUTES
from llmcache.testing.emulator.state import EmulatedError, EmulatorState, openai_error_body

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
MAX_LISTED_ERRORS = 1000
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was cancelled before it was executed."


@dataclass
class OpenAIBatch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    created_at: float
    status: str = "validating"
    times: dict[str, float] = field(default_factory=dict)  # in_progress_at, finalizing_at, completed_at, ...
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    model: str | None = None
    usage: dict[str, Any] | None = None
    lines: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # validated (custom_id, body)
    finished_status: str = "completed"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_object(self) -> dict[str, Any]:
        stamp = {name: int(value) for name, value in self.times.items()}
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors is not None else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created_at),
            "in_progress_at": stamp.get("in_progress_at"),
            "expires_at": int(self.created_at) + 24 * 3600,
            "finalizing_at": stamp.get("finalizing_at"),
            "completed_at": stamp.get("completed_at"),
            "failed_at": stamp.get("failed_at"),
            "expired_at": stamp.get("expired_at"),
            "cancelling_at": stamp.get("cancelling_at"),
            "cancelled_at": stamp.get("cancelled_at"),
            "request_counts": dict(self.counts),
            "usage": self.usage,
            "metadata": self.metadata,
        }


def create(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any]:
    input_file_id = body.get("input_file_id")
    if not isinstance(input_file_id, str):
        raise EmulatedError(400, "Missing required parameter: 'input_file_id'.", "input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise EmulatedError(
            400, f"Invalid value for 'endpoint': {endpoint!r}; supported: {list(ENDPOINTS)}", "endpoint"
        )
    if body.get("completion_window") != "24h":
        raise EmulatedError(400, "Invalid value for 'completion_window': only '24h' is supported.", "completion_window")
    stored = files.get(state, input_file_id)
    if stored.purpose != "batch":
        raise EmulatedError(400, f"File {input_file_id} was not uploaded with purpose 'batch'.", "input_file_id")
    metadata = body.get("metadata")
    batch = OpenAIBatch(
        id=f"batch_emu{uuid.uuid4().hex[:24]}",
        input_file_id=input_file_id,
        endpoint=str(endpoint),
        completion_window="24h",
        metadata=metadata if isinstance(metadata, dict) else None,
        created_at=now(),
    )
    with state.lock:
        state.openai_batches[batch.id] = batch
    return batch.as_object()


def get(state: EmulatorState, batch_id: str) -> OpenAIBatch:
    with state.lock:
        batch = state.openai_batches.get(batch_id)
    if not isinstance(batch, OpenAIBatch):
        raise EmulatedError(404, f"No batch found with id '{batch_id}'.", "batch_id")
    return batch


def retrieve(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    batch = get(state, batch_id)
    advance(state, batch)
    return batch.as_object()


def cancel(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    batch = get(state, batch_id)
    advance(state, batch)
    with batch.lock:
        if batch.status in ("validating", "in_progress"):
            batch.status = "cancelling"
            batch.times["cancelling_at"] = now()
        elif batch.status not in ("cancelling", "cancelled"):
            raise EmulatedError(409, f"Cannot cancel a batch with status '{batch.status}'.")
        answer = batch.as_object()
    advance(state, batch)
    return answer


def listing(state: EmulatorState, limit: int, after: str | None) -> dict[str, Any]:
    with state.lock:
        batches = sorted(
            (b for b in state.openai_batches.values() if isinstance(b, OpenAIBatch)),
            key=lambda b: b.created_at,
            reverse=True,
        )
    if after is not None:
        ids = [b.id for b in batches]
        batches = batches[ids.index(after) + 1 :] if after in ids else []
    for batch in batches[:limit]:
        advance(state, batch)
    data = [b.as_object() for b in batches[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(batches) > limit,
    }


def advance(state: EmulatorState, batch: OpenAIBatch) -> None:
    """Move the batch through every phase whose time has come."""
    config = state.config
    with batch.lock:
        moment = now()
        if batch.status == "validating" and moment >= batch.created_at + config.batch_validating_seconds:
            _validate(state, batch, moment)
        if batch.status == "in_progress" and may_finish(state, batch.times["in_progress_at"], moment):
            _run(state, batch, moment)
        if batch.status == "cancelling":
            _finish_cancelled(state, batch, moment)
        if batch.status == "finalizing" and moment >= batch.times["finalizing_at"] + config.batch_finalizing_seconds:
            batch.status = batch.finished_status
            batch.times["completed_at" if batch.status == "completed" else "expired_at"] = moment


def _fail(batch: OpenAIBatch, moment: float, errors: list[dict[str, Any]]) -> None:
    batch.status = "failed"
    batch.times["failed_at"] = moment
    batch.errors = errors[:MAX_LISTED_ERRORS]


def _error(code: str, message: str, line: int | None = None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _validate(state: EmulatorState, batch: OpenAIBatch, moment: float) -> None:
    """The whole file validates or the batch fails, with one error per bad line (as OpenAI reports them)."""
    config = state.config
    content = files.get(state, batch.input_file_id).content
    if len(content) > config.openai_batch_max_bytes:
        limit = config.openai_batch_max_bytes
        _fail(
            batch, moment, [_error("file_too_large", f"The input file is {len(content)} bytes; the limit is {limit}.")]
        )
        return
    texts = [(number, text) for number, text in enumerate(content.decode("utf-8", errors="replace").splitlines(), 1)]
    texts = [(number, text) for number, text in texts if text.strip()]
    if not texts:
        _fail(batch, moment, [_error("empty_file", "The batch input file is empty.")])
        return
    if len(texts) > config.openai_batch_max_requests:
        limit = config.openai_batch_max_requests
        _fail(batch, moment, [_error("too_many_tasks", f"The batch has {len(texts)} requests; the limit is {limit}.")])
        return
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    lines: list[tuple[str, dict[str, Any]]] = []
    for number, text in texts:
        checked = _check_line(batch, number, text, seen)
        if isinstance(checked, tuple):
            lines.append(checked)
        else:
            errors.append(checked)
    if errors:
        _fail(batch, moment, errors)
        return
    batch.lines = lines
    batch.counts["total"] = len(lines)
    batch.status = "in_progress"
    batch.times["in_progress_at"] = moment
    state.stats.record_batch("openai", batch.id, len(lines), batch.model)


def _check_line(
    batch: OpenAIBatch, number: int, text: str, seen: set[str]
) -> tuple[str, dict[str, Any]] | dict[str, Any]:
    """(custom_id, body) of a valid line, else the line's error. The first model seen is the batch's model."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        return _error("invalid_json_line", "This line is not parseable as valid JSON.", number)
    if not isinstance(row, dict):
        return _error("invalid_json_line", "This line is not a JSON object.", number)
    custom_id, body = row.get("custom_id"), row.get("body")
    if not isinstance(custom_id, str) or not custom_id:
        return _error("missing_required_parameter", "Missing required parameter: 'custom_id'.", number, "custom_id")
    if custom_id in seen:
        message = "The custom_id for this request is a duplicate of another request."
        return _error("duplicate_custom_id", message, number, "custom_id")
    seen.add(custom_id)
    if row.get("method") != "POST":
        return _error("invalid_request", "The method must be 'POST'.", number, "method")
    if row.get("url") != batch.endpoint:
        message = f"The provided URL {row.get('url')!r} does not match the batch endpoint {batch.endpoint!r}."
        return _error("url_mismatch", message, number, "url")
    if not isinstance(body, dict):
        return _error("missing_required_parameter", "Missing required parameter: 'body'.", number, "body")
    model = body.get("model")
    if isinstance(model, str):
        if batch.model is None:
            batch.model = model
        elif model != batch.model:
            message = f"The model {model!r} does not match the batch's model {batch.model!r}: one model per batch."
            return _error("model_mismatch", message, number, "body.model")
    return custom_id, body


def _line_id() -> str:
    return f"batch_req_emu{uuid.uuid4().hex[:20]}"


def _answer(state: EmulatorState, batch: OpenAIBatch, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One request's output or error-file line (HTTP failures keep their status and body under `response`)."""
    request_id = f"req_emu{uuid.uuid4().hex[:20]}"
    fault = requested_fault(state, custom_id, body)
    try:
        if fault is not None:
            state.stats.record_fault(f"batch:{fault}")
            raise EmulatedError(int(fault), f"emulated {fault} fault")
        _, handler = ROUTES[batch.endpoint]
        response, _ = handler(state, body, batch=True)
    except EmulatedError as error:
        return {
            "id": _line_id(),
            "custom_id": custom_id,
            "response": {
                "status_code": error.status,
                "request_id": request_id,
                "body": openai_error_body(error.status, error.message, error.param),
            },
            "error": None,
        }
    return {
        "id": _line_id(),
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": response},
        "error": None,
    }


def _not_run(custom_id: str, code: str, message: str) -> dict[str, Any]:
    return {"id": _line_id(), "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}


def _write_files(
    state: EmulatorState, batch: OpenAIBatch, output: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> None:
    def jsonl(rows: list[dict[str, Any]]) -> bytes:
        return "".join(json.dumps(r) + "\n" for r in shuffled(state, rows)).encode()

    if output:
        batch.output_file_id = files.add_file(state, f"{batch.id}_output.jsonl", "batch_output", jsonl(output)).id
    if failed:
        batch.error_file_id = files.add_file(state, f"{batch.id}_error.jsonl", "batch_output", jsonl(failed)).id
    batch.counts["completed"] = len(output)
    batch.counts["failed"] = len(failed)
    usage = [r["response"]["body"].get("usage") or {} for r in output]
    inputs = sum(int(u.get("prompt_tokens", 0)) for u in usage)
    outputs = sum(int(u.get("completion_tokens", 0)) for u in usage)
    cached = sum(int((u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)) for u in usage)
    batch.usage = {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inputs + outputs,
    }


def _run(state: EmulatorState, batch: OpenAIBatch, moment: float) -> None:
    answered = answered_count(state, len(batch.lines))
    output: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for index, (custom_id, body) in enumerate(batch.lines):
        if index >= answered:
            failed.append(_not_run(custom_id, "batch_expired", EXPIRED_MESSAGE))
            continue
        row = _answer(state, batch, custom_id, body)
        (output if row["response"]["status_code"] == 200 else failed).append(row)
    _write_files(state, batch, output, failed)
    if answered < len(batch.lines):  # the completion window ran out before every request was run
        batch.status = "expired"
        batch.times["expired_at"] = moment
        return
    batch.status = "finalizing"
    batch.times["finalizing_at"] = moment


def _finish_cancelled(state: EmulatorState, batch: OpenAIBatch, moment: float) -> None:
    """Nothing had run yet (requests run together when the completion delay ends): every request is cancelled."""
    _write_files(state, batch, [], [_not_run(cid, "batch_cancelled", CANCELLED_MESSAGE) for cid, _ in batch.lines])
    batch.status = "cancelled"
    batch.times["cancelled_at"] = moment
