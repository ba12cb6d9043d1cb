"""The emulator's HTTP server: `POST /v1/chat/completions`, `POST /v1/embeddings`, `POST /v1/messages`, the Batch
APIs (`/v1/files`, `/v1/batches`, `/v1/messages/batches`: see `batch_routes`), `GET /emulator/stats`,
`POST /emulator/reset`, `POST /emulator/batches/release`.

Fault injection per request: header `x-emulator-fault: 429|500|529|400|timeout|malformed`, optionally
`x-emulator-fault-times: N` (only the first N attempts of the same request fail; the SDK resends the same body
and headers on a retry) and `x-emulator-retry-after: SECONDS`. By rate: `EmulatorConfig.fault_rates`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.dispatch import HANG, handle
from llmcache.testing.emulator.state import EmulatorState

log = structlog.get_logger("llmcache.emulator")
EMULATOR_HEADER = "llmcache-provider-emulator"


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

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, method: str) -> None:
        raw = self._read_body() if method != "GET" else b""
        base_url = f"http://{self.headers.get('host') or f'127.0.0.1:{self.server.server_address[1]}'}"
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = handle(self.server.state, method, self.path, headers=headers, raw=raw, base_url=base_url)
        if answer.status == HANG:  # the `timeout` fault: hold the connection, never answer
            time.sleep(self.server.state.config.timeout_hang_seconds)
            return
        self._send(answer.status, answer.body, answer.headers, answer.content_type)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")


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
