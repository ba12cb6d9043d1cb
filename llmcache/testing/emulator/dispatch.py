"""Every emulator endpoint as one pure function of (method, target, headers, body): the stdlib HTTP server
(`server.py`) and the in-process httpx transport (`transport.py`) both answer through `handle`.

`EmulatorResponse.status == HANG` means "never answer" (the `timeout` fault): the server holds the connection for
`timeout_hang_seconds`, the transport raises the SDK's read timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

from llmcache.testing.emulator import batch_routes
from llmcache.testing.emulator.chat import ROUTES
from llmcache.testing.emulator.state import (
    EmulatedError,
    EmulatorResponse,
    EmulatorState,
    anthropic_error_body,
    openai_error_body,
)

HANG = 0


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> EmulatorResponse:
    return EmulatorResponse(status, json.dumps(payload).encode(), headers or {})


def handle(
    state: EmulatorState, method: str, target: str, *, headers: Mapping[str, str], raw: bytes, base_url: str
) -> EmulatorResponse:
    """`headers` with lower-case names; `base_url` the emulator's own (for Anthropic's `results_url`)."""
    path = urlsplit(target).path.rstrip("/") or "/"
    if method == "GET" and path == "/emulator/stats":
        return _json(state.stats.snapshot())
    if method == "POST" and path == "/emulator/reset":
        state.reset()
        return _json({"reset": True})
    if method == "POST" and path in ROUTES:
        return _chat(state, path, headers, raw)
    answer = batch_routes.dispatch(state, method, target, headers=headers, raw=raw, base_url=base_url)
    return answer if answer is not None else _json({"error": {"message": f"no route {path}"}}, 404)


def _authenticate(flavour: str, headers: Mapping[str, str]) -> None:
    bearer = (headers.get("authorization") or "").startswith("Bearer ")
    if flavour == "openai" and not bearer:
        raise EmulatedError(401, "You didn't provide an API key.")
    if flavour == "anthropic" and not (headers.get("x-api-key") or bearer):
        raise EmulatedError(401, "x-api-key header is required")


def _fault(state: EmulatorState, path: str, headers: Mapping[str, str], raw: bytes) -> str | None:
    requested = headers.get("x-emulator-fault")
    if requested:
        times = headers.get("x-emulator-fault-times")
        if times is not None:
            key = hashlib.sha256(path.encode() + requested.encode() + raw).hexdigest()
            with state.lock:
                attempt = state.fault_attempts.get(key, 0) + 1
                state.fault_attempts[key] = attempt
            if attempt > int(times):
                return None
        state.stats.record_fault(requested)
        return requested
    for kind, rate in state.config.fault_rates.items():
        with state.lock:
            draw = state.rng.random()
        if draw < rate:
            state.stats.record_fault(kind)
            return kind
    return None


def _chat(state: EmulatorState, path: str, headers: Mapping[str, str], raw: bytes) -> EmulatorResponse:
    flavour, handler = ROUTES[path]
    request_id = f"req_emu{uuid.uuid4().hex[:20]}"
    id_header = "x-request-id" if flavour == "openai" else "request-id"
    try:
        _authenticate(flavour, headers)
        fault = _fault(state, path, headers, raw)
        if fault == "timeout":
            return EmulatorResponse(HANG, b"")
        if fault == "malformed":
            return EmulatorResponse(200, b'{"id": "truncated', {id_header: request_id})
        if fault is not None:
            raise EmulatedError(int(fault), f"emulated {fault} fault", retry_after=state.config.retry_after_seconds)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as error:
            raise EmulatedError(400, f"We could not parse the JSON body of your request: {error}") from None
        if not isinstance(body, dict):
            raise EmulatedError(400, "the request body must be a JSON object")
        response, output_tokens = handler(state, body)
    except EmulatedError as error:
        return _error(state, flavour, error, request_id, headers)
    delay = state.config.time_to_first_token_ms + state.config.per_output_token_ms * output_tokens
    if delay:
        time.sleep(delay / 1000)
    return _json(response, 200, {id_header: request_id})


def _error(
    state: EmulatorState, flavour: str, error: EmulatedError, request_id: str, headers: Mapping[str, str]
) -> EmulatorResponse:
    if error.status in (400, 401, 404, 413):
        state.stats.record_rejected()
    out = {"x-request-id" if flavour == "openai" else "request-id": request_id}
    retry_after = headers.get("x-emulator-retry-after") or (
        str(error.retry_after) if error.retry_after is not None and error.status in (429, 529, 503) else None
    )
    if retry_after is not None:
        out["retry-after"] = retry_after
        out["retry-after-ms"] = str(int(float(retry_after) * 1000))
    payload = (
        openai_error_body(error.status, error.message, error.param)
        if flavour == "openai"
        else anthropic_error_body(error.status, error.message, request_id)
    )
    return _json(payload, error.status, out)
