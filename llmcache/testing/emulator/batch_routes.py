"""Routing of the Batch API endpoints: a pure function from (method, path, headers, body) to a response, so that
the stdlib HTTP server and an in-process httpx transport serve them alike.

OpenAI (`/v1` optional): `POST /files`, `GET /files`, `GET /files/{id}`, `GET /files/{id}/content`,
`DELETE /files/{id}`, `POST /batches`, `GET /batches`, `GET /batches/{id}`, `POST /batches/{id}/cancel`.
Anthropic: `POST /v1/messages/batches`, `GET /v1/messages/batches`, `GET /v1/messages/batches/{id}`,
`GET /v1/messages/batches/{id}/results`, `POST /v1/messages/batches/{id}/cancel`,
`DELETE /v1/messages/batches/{id}`. Test control: `POST /emulator/batches/release` (held batches may finish).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llmcache.testing.emulator import anthropic_batches, files, openai_batches
from llmcache.testing.emulator.state import (
    EmulatedError,
    EmulatorResponse,
    EmulatorState,
    anthropic_error_body,
    openai_error_body,
)

Handler = Callable[[EmulatorState, "Call"], EmulatorResponse]


@dataclass(frozen=True)
class Call:
    """One request as the handlers see it."""

    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    raw: bytes
    base_url: str
    match: re.Match[str]

    def json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.raw or b"{}")
        except json.JSONDecodeError as error:
            raise EmulatedError(400, f"We could not parse the JSON body of your request: {error}") from None
        if not isinstance(body, dict):
            raise EmulatedError(400, "the request body must be a JSON object")
        return body

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def limit(self, default: int = 20) -> int:
        value = self.arg("limit")
        try:
            return max(1, min(int(value), 1000)) if value is not None else default
        except ValueError:
            raise EmulatedError(400, f"limit: Input should be a valid integer, got {value!r}", "limit") from None


def _json(payload: dict[str, Any], status: int = 200) -> EmulatorResponse:
    return EmulatorResponse(status, json.dumps(payload).encode())


def _release(state: EmulatorState, call: Call) -> EmulatorResponse:
    state.batches_released.set()
    return _json({"released": True})


OPENAI_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", r"/files", lambda s, c: _json(files.upload(s, c.headers.get("content-type", ""), c.raw))),
    ("GET", r"/files", lambda s, c: _json(files.listing(s, c.arg("purpose")))),
    ("GET", r"/files/(?P<id>[^/]+)", lambda s, c: _json(files.get(s, c.match["id"]).as_object())),
    (
        "GET",
        r"/files/(?P<id>[^/]+)/content",
        lambda s, c: EmulatorResponse(
            200, files.get(s, c.match["id"]).content, content_type="application/octet-stream"
        ),
    ),
    ("DELETE", r"/files/(?P<id>[^/]+)", lambda s, c: _json(files.delete(s, c.match["id"]))),
    ("POST", r"/batches", lambda s, c: _json(openai_batches.create(s, c.json()))),
    ("GET", r"/batches", lambda s, c: _json(openai_batches.listing(s, c.limit(), c.arg("after")))),
    ("GET", r"/batches/(?P<id>[^/]+)", lambda s, c: _json(openai_batches.retrieve(s, c.match["id"]))),
    ("POST", r"/batches/(?P<id>[^/]+)/cancel", lambda s, c: _json(openai_batches.cancel(s, c.match["id"]))),
]
ANTHROPIC_ROUTES: list[tuple[str, str, Handler]] = [
    (
        "POST",
        r"/v1/messages/batches",
        lambda s, c: _json(anthropic_batches.create(s, len(c.raw), c.json(), c.base_url)),
    ),
    (
        "GET",
        r"/v1/messages/batches",
        lambda s, c: _json(anthropic_batches.listing(s, c.limit(), c.arg("before_id"), c.arg("after_id"))),
    ),
    ("GET", r"/v1/messages/batches/(?P<id>[^/]+)", lambda s, c: _json(anthropic_batches.retrieve(s, c.match["id"]))),
    ("DELETE", r"/v1/messages/batches/(?P<id>[^/]+)", lambda s, c: _json(anthropic_batches.delete(s, c.match["id"]))),
    (
        "GET",
        r"/v1/messages/batches/(?P<id>[^/]+)/results",
        lambda s, c: EmulatorResponse(
            200, anthropic_batches.results(s, c.match["id"]), content_type="application/binary"
        ),
    ),
    (
        "POST",
        r"/v1/messages/batches/(?P<id>[^/]+)/cancel",
        lambda s, c: _json(anthropic_batches.cancel(s, c.match["id"])),
    ),
]


def _authenticated(flavour: str, headers: Mapping[str, str]) -> bool:
    bearer = (headers.get("authorization") or "").startswith("Bearer ")
    return bearer if flavour == "openai" else bearer or bool(headers.get("x-api-key"))


def _find(method: str, path: str) -> tuple[str, Handler, re.Match[str]] | None:
    if method == "POST" and path == "/emulator/batches/release":
        return "control", _release, re.match(r".*", path)  # type: ignore[return-value]
    for pattern_method, pattern, handler in ANTHROPIC_ROUTES:
        if method == pattern_method and (match := re.fullmatch(pattern, path)):
            return "anthropic", handler, match
    openai_path = path[3:] if path.startswith("/v1/") else path
    for pattern_method, pattern, handler in OPENAI_ROUTES:
        if method == pattern_method and (match := re.fullmatch(pattern, openai_path)):
            return "openai", handler, match
    return None


def dispatch(
    state: EmulatorState, method: str, target: str, *, headers: Mapping[str, str], raw: bytes, base_url: str
) -> EmulatorResponse | None:
    """The Batch API's answer to one request, or None when the path is not a Batch API endpoint.
    `headers` have lower-case names."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    found = _find(method, path)
    if found is None:
        return None
    flavour, handler, match = found
    request_id = f"req_emu{uuid.uuid4().hex[:20]}"
    id_header = "x-request-id" if flavour == "openai" else "request-id"
    try:
        if flavour != "control" and not _authenticated(flavour, headers):
            raise EmulatedError(
                401, "You didn't provide an API key." if flavour == "openai" else "x-api-key header is required"
            )
        answer = handler(state, Call(path, parse_qs(parts.query), headers, raw, base_url, match))
    except EmulatedError as error:
        if error.status in (400, 401, 404, 413):
            state.stats.record_rejected()
        payload = (
            openai_error_body(error.status, error.message, error.param)
            if flavour == "openai"
            else anthropic_error_body(error.status, error.message, request_id)
        )
        return EmulatorResponse(error.status, json.dumps(payload).encode(), {id_header: request_id})
    return EmulatorResponse(answer.status, answer.body, {**answer.headers, id_header: request_id}, answer.content_type)
