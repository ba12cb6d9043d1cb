"""The emulator's HTTP server: `POST /v1/chat/completions`, `POST /v1/embeddings`, `POST /v1/messages`, the Batch
APIs (`/v1/files`, `/v1/batches`, `/v1/messages/batches`: see `batch_routes`), `GET /emulator/stats`,
`POST /emulator/reset`, `POST /emulator/batches/release`.

Fault injection per request: header `x-emulator-fault: 429|500|529|400|timeout|malformed`, optionally
`x-emulator-fault-times: N` (only the first N attempts of the same request fail; the SDK resends the same body
and headers on a retry) and `x-emulator-retry-after: SECONDS`. By rate: `EmulatorConfig.fault_rates`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from shared.emulator import batch_routes
from shared.emulator.chat import ROUTES
from shared.emulator.config import EmulatorConfig
from shared.emulator.state import EmulatedError, EmulatorState, anthropic_error_body, openai_error_body

log = structlog.get_logger("llmcache.emulator")
EMULATOR_HEADER = "llmcache-provider-emulator"
OPENAI_MESSAGE_OVERHEAD = 3  # ChatML tokens per message, as OpenAI documents for counting


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stats endpoint and structlog say what happened."""

    def _send(
        self, status: int, payload: bytes, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-emulator", EMULATOR_HEADER)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _batch_route(self, method: str, raw: bytes) -> bool:
        """The Batch API endpoints (files, batches, message batches); False when the path is none of theirs."""
        base_url = f"http://{self.headers.get('host') or f'127.0.0.1:{self.server.server_address[1]}'}"
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = batch_routes.dispatch(
            self.server.state, method, self.path, headers=headers, raw=raw, base_url=base_url
        )
        if answer is None:
            return False
        self._send(answer.status, answer.body, answer.headers, answer.content_type)
        return True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/emulator/stats":
            self._send(200, json.dumps(self.server.state.stats.snapshot()).encode())
        elif not self._batch_route("GET", b""):
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

    def do_DELETE(self) -> None:
        if not self._batch_route("DELETE", self._read_body()):
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

    def do_POST(self) -> None:
        state = self.server.state
        raw = self._read_body()
        path = self.path.split("?")[0].rstrip("/")
        if path == "/emulator/reset":
            state.reset()
            self._send(200, b'{"reset": true}')
            return
        route = ROUTES.get(path)
        if route is None and self._batch_route("POST", raw):
            return
        if route is None:
            self._send(404, json.dumps({"error": {"message": f"no route {path}"}}).encode())
            return
        flavour, handler = route
        request_id = f"req_emu{uuid.uuid4().hex[:20]}"
        id_header = "x-request-id" if flavour == "openai" else "request-id"
        try:
            self._authenticate(flavour)
            fault = self._fault(raw)
            if fault == "timeout":
                time.sleep(state.config.timeout_hang_seconds)
                return
            if fault == "malformed":
                self._send(200, b'{"id": "truncated', {id_header: request_id})
                return
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
            self._send_error(flavour, error, request_id)
            return
        delay = state.config.time_to_first_token_ms + state.config.per_output_token_ms * output_tokens
        if delay:
            time.sleep(delay / 1000)
        self._send(200, json.dumps(response).encode(), {id_header: request_id})

    def _authenticate(self, flavour: str) -> None:
        if flavour == "openai" and not (self.headers.get("authorization") or "").startswith("Bearer "):
            raise EmulatedError(401, "You didn't provide an API key.")
        if flavour == "anthropic" and not (
            self.headers.get("x-api-key") or (self.headers.get("authorization") or "").startswith("Bearer ")
        ):
            raise EmulatedError(401, "x-api-key header is required")

    def _fault(self, raw: bytes) -> str | None:
        state = self.server.state
        requested = self.headers.get("x-emulator-fault")
        if requested:
            times = self.headers.get("x-emulator-fault-times")
            if times is not None:
                key = hashlib.sha256(self.path.encode() + requested.encode() + raw).hexdigest()
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

    def _send_error(self, flavour: str, error: EmulatedError, request_id: str) -> None:
        state = self.server.state
        if error.status in (400, 401, 404, 413):
            state.stats.record_rejected()
        headers = {"x-request-id" if flavour == "openai" else "request-id": request_id}
        retry_after = self.headers.get("x-emulator-retry-after") or (
            str(error.retry_after) if error.retry_after is not None and error.status in (429, 529, 503) else None
        )
        if retry_after is not None:
            headers["retry-after"] = retry_after
            headers["retry-after-ms"] = str(int(float(retry_after) * 1000))
        payload = (
            openai_error_body(error.status, error.message, error.param)
            if flavour == "openai"
            else anthropic_error_body(error.status, error.message, request_id)
        )
        self._send(error.status, json.dumps(payload).encode(), headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class RunningEmulator:
    """A started emulator; `stop()` shuts it down. Usable as a context manager."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = EmulatorState.create(config or EmulatorConfig())
        self._server = _Server((host, port), self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="llmcache-emulator", daemon=True)
        self._thread.start()
        log.info("provider_emulator_started", url=self.url, note="emulator, not a real provider")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def configure(self, **changes: Any) -> None:
        """Change settings while running, e.g. `configure(batch_hold=True, batch_expire_fraction=0.5)`."""
        self.state.configure(**changes)

    def release_batches(self) -> None:
        """Held batches (`batch_hold`) may now finish."""
        self.state.batches_released.set()

    def reset(self) -> None:
        self.state.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(config: EmulatorConfig, host: str, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted; `announce` gets the URL once bound (port 0 picks a free one)."""
    server = _Server((host, port), EmulatorState.create(config))
    url = f"http://{host}:{server.server_address[1]}"
    announce(f"llmcache provider emulator (not a real provider) listening on {url}")
    log.info("provider_emulator_listening", url=url, note="emulator, not a real provider")
    try:
        server.serve_forever()
    finally:
        server.server_close()
