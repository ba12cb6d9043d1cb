"""Anthropic's Message Batches, emulated: `/v1/messages/batches` create, retrieve, list, cancel, delete and
results (JSONL at `results_url`).

`processing_status` goes `in_progress` -> `ended` (or `canceling` -> `ended`); `request_counts` holds every
request under `processing` until the batch ends, then under `succeeded`, `errored`, `canceled` or `expired`. The
request list is checked at creation as Anthropic does (custom_id pattern and uniqueness, count and size limits);
each request's params are checked when it runs, and a bad one is an `errored` result. Requests are answered by the
Messages endpoint's own logic at batch prices; results come in no particular order.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llmcache.testing.emulator.batch_common import answered_count, may_finish, now, requested_fault, shuffled
from llmcache.testing.emulator.chat import anthropic_message
from llmcache.testing.emulator.state import ANTHROPIC_ERROR_TYPES, EmulatedError, EmulatorState

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class MessageBatch:
    id: str
    requests: list[tuple[str, dict[str, Any]]]
    created_at: float
    results_base: str
    processing_status: str = "in_progress"
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_object(self) -> dict[str, Any]:
        counts = self.counts or {
            "processing": len(self.requests),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        ended = self.processing_status == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": dict(counts),
            "ended_at": _rfc3339(self.ended_at),
            "created_at": _rfc3339(self.created_at),
            "expires_at": _rfc3339(self.created_at + timedelta(hours=24).total_seconds()),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(self.cancel_initiated_at),
            "results_url": f"{self.results_base}/v1/messages/batches/{self.id}/results" if ended else None,
        }


def create(state: EmulatorState, raw_size: int, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    config = state.config
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise EmulatedError(400, "requests: List should have at least 1 item after validation, not 0")
    if len(requests) > config.anthropic_batch_max_requests:
        raise EmulatedError(
            400,
            f"requests: a Message Batch holds at most {config.anthropic_batch_max_requests} requests, "
            f"got {len(requests)}",
        )
    if raw_size > config.anthropic_batch_max_bytes:
        raise EmulatedError(413, f"Request exceeds the maximum size of {config.anthropic_batch_max_bytes} bytes")
    seen: set[str] = set()
    parsed: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(requests):
        if not isinstance(item, dict):
            raise EmulatedError(400, f"requests.{index}: Input should be a valid dictionary")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise EmulatedError(
                400, f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )
        if custom_id in seen:
            raise EmulatedError(400, f"requests.{index}.custom_id: Duplicate custom_id {custom_id!r} in this batch")
        seen.add(custom_id)
        params = item.get("params")
        if not isinstance(params, dict):
            raise EmulatedError(400, f"requests.{index}.params: Field required")
        parsed.append((custom_id, params))
    batch = MessageBatch(f"msgbatch_emu{uuid.uuid4().hex[:24]}", parsed, now(), base_url)
    with state.lock:
        state.anthropic_batches[batch.id] = batch
    state.stats.record_batch("anthropic", batch.id, len(parsed))
    return batch.as_object()


def get(state: EmulatorState, batch_id: str) -> MessageBatch:
    with state.lock:
        batch = state.anthropic_batches.get(batch_id)
    if not isinstance(batch, MessageBatch):
        raise EmulatedError(404, f"Message Batch {batch_id} not found")
    return batch


def retrieve(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    batch = get(state, batch_id)
    advance(state, batch)
    return batch.as_object()


def cancel(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    batch = get(state, batch_id)
    advance(state, batch)
    with batch.lock:
        if batch.processing_status == "in_progress":
            batch.processing_status = "canceling"
            batch.cancel_initiated_at = now()
        answer = batch.as_object()
    advance(state, batch)
    return answer


def delete(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    batch = get(state, batch_id)
    advance(state, batch)
    if batch.processing_status != "ended":
        raise EmulatedError(400, f"Message Batch {batch_id} is still processing; cancel it before deleting it")
    with state.lock:
        state.anthropic_batches.pop(batch_id, None)
    return {"id": batch_id, "type": "message_batch_deleted"}


def results(state: EmulatorState, batch_id: str) -> bytes:
    batch = get(state, batch_id)
    advance(state, batch)
    if batch.processing_status != "ended":
        raise EmulatedError(400, f"Message Batch {batch_id} has not ended yet: results are not available")
    return "".join(json.dumps(row) + "\n" for row in batch.results).encode()


def listing(state: EmulatorState, limit: int, before_id: str | None, after_id: str | None) -> dict[str, Any]:
    with state.lock:
        batches = sorted(
            (b for b in state.anthropic_batches.values() if isinstance(b, MessageBatch)),
            key=lambda b: b.created_at,
            reverse=True,
        )
    ids = [b.id for b in batches]
    if after_id is not None:  # the page after this id (older ones)
        batches = batches[ids.index(after_id) + 1 :] if after_id in ids else []
    elif before_id is not None:  # the page before this id (newer ones)
        batches = batches[: ids.index(before_id)] if before_id in ids else []
    page = batches[:limit]
    for batch in page:
        advance(state, batch)
    data = [b.as_object() for b in page]
    return {
        "data": data,
        "has_more": len(batches) > limit,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def advance(state: EmulatorState, batch: MessageBatch) -> None:
    with batch.lock:
        moment = now()
        if batch.processing_status == "in_progress" and may_finish(state, batch.created_at, moment):
            _run(state, batch, moment)
        elif batch.processing_status == "canceling":
            _end(
                state, batch, [{"custom_id": cid, "result": {"type": "canceled"}} for cid, _ in batch.requests], moment
            )


def _errored(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": f"req_emu{uuid.uuid4().hex[:20]}",
        },
    }


def _one(state: EmulatorState, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
    fault = requested_fault(state, custom_id, params)
    try:
        if fault is not None:
            state.stats.record_fault(f"batch:{fault}")
            raise EmulatedError(int(fault), f"emulated {fault} fault")
        if params.get("stream"):
            raise EmulatedError(400, "stream: streaming is not supported in Message Batches")
        message, _ = anthropic_message(state, params, batch=True)
    except EmulatedError as error:
        return {"custom_id": custom_id, "result": _errored(error.status, error.message)}
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def _run(state: EmulatorState, batch: MessageBatch, moment: float) -> None:
    answered = answered_count(state, len(batch.requests))
    rows = [
        _one(state, cid, params) if index < answered else {"custom_id": cid, "result": {"type": "expired"}}
        for index, (cid, params) in enumerate(batch.requests)
    ]
    _end(state, batch, rows, moment)


def _end(state: EmulatorState, batch: MessageBatch, rows: list[dict[str, Any]], moment: float) -> None:
    batch.results = shuffled(state, rows)
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for row in rows:
        counts[row["result"]["type"]] += 1
    batch.counts = counts
    batch.processing_status = "ended"
    batch.ended_at = moment
