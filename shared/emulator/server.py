"""The emulator's HTTP server: `POST /v1/chat/completions`, `POST /v1/embeddings`, `POST /v1/messages`,
`GET /emulator/stats`, `POST /emulator/reset`.

Fault injection per request: header `x-emulator-fault: 429|500|529|400|timeout|malformed`, optionally
`x-emulator-fault-times: N` (only the first N attempts of the same request fail; the SDK resends the same body
and headers on a retry) and `x-emulator-retry-after: SECONDS`. By rate: `EmulatorConfig.fault_rates`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import structlog

from shared.emulator.accounting import Block, PrefixCache, anthropic_account, openai_account
from shared.emulator.answers import answer_for, truncate_to_tokens
from shared.emulator.config import EmulatorConfig
from shared.emulator.stats import EmulatorStats
from shared.errors import ConfigurationError
from shared.providers.pricing import PricingTable
from shared.providers.prompt_cache import MAX_BREAKPOINTS
from shared.providers.tokens import count_content_tokens, count_tokens, encode_tokens

log = structlog.get_logger("llmcache.emulator")
EMULATOR_HEADER = "llmcache-provider-emulator"
OPENAI_MESSAGE_OVERHEAD = 3  # ChatML tokens per message, as OpenAI documents for counting
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests", 500: "server_error"}


class EmulatedError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.retry_after = retry_after


@dataclass
class EmulatorState:
    config: EmulatorConfig
    pricing: PricingTable
    stats: EmulatorStats
    openai_cache: PrefixCache
    anthropic_cache: PrefixCache
    fault_attempts: dict[str, int]
    lock: threading.Lock
    rng: random.Random

    @classmethod
    def create(cls, config: EmulatorConfig) -> EmulatorState:
        return cls(
            config,
            PricingTable.load(),
            EmulatorStats(),
            PrefixCache(),
            PrefixCache(),
            {},
            threading.Lock(),
            random.Random(config.fault_seed),
        )

    def reset(self) -> None:
        self.stats.reset()
        self.openai_cache.clear()
        self.anthropic_cache.clear()
        with self.lock:
            self.fault_attempts.clear()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _required_model(body: dict[str, Any], message: str) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EmulatedError(400, message, "model")
    return model


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _openai_completion(state: EmulatorState, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    model = _required_model(body, "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EmulatedError(
            400, "[] is too short - 'messages'" if messages == [] else "'messages' is required", "messages"
        )
    prompt_tokens: list[int] = []
    if body.get("tools"):
        prompt_tokens += encode_tokens(json.dumps(body["tools"], sort_keys=True))
    for message in messages:
        prompt_tokens += encode_tokens(f"<|{message.get('role')}|>") + encode_tokens(
            _text_of(message.get("content")) or json.dumps(message.get("content"), sort_keys=True)
        )
    prompt_count = len(prompt_tokens) + 3  # every reply is primed with <|start|>assistant<|message|>
    config = state.config
    account = openai_account(
        state.openai_cache,
        model,
        prompt_tokens,
        minimum=config.openai_min_cached_tokens,
        step=config.openai_cache_step_tokens,
        retention_s=config.openai_cache_retention_seconds,
    )
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    text, output_tokens, cut = truncate_to_tokens(
        answer_for(config, _last_user_text(messages), {k: v for k, v in body.items() if k != "stream"}), max_tokens
    )
    state.openai_cache.commit(account.pending)
    state.stats.record_call(
        "chat.completions",
        model,
        input_tokens=prompt_count,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
    )
    response = {
        "id": f"chatcmpl-emu{uuid.uuid4().hex[:20]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_count,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_count + output_tokens,
            "prompt_tokens_details": {"cached_tokens": account.read_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_llmcache_emulator",
    }
    return response, output_tokens


def _openai_embeddings(state: EmulatorState, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    model = _required_model(body, "you must provide a model parameter")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise EmulatedError(400, "'input' must be a string or a non-empty array of strings", "input")
    dimensions = int(body.get("dimensions") or state.config.embedding_dimensions)
    encoding = body.get("encoding_format", "float")
    data = []
    tokens = 0
    for index, text in enumerate(inputs):
        tokens += count_tokens(text)
        seed = int.from_bytes(hashlib.sha256(f"{model}\x00{text}".encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
        vector /= np.linalg.norm(vector)
        embedding: Any = (
            base64.b64encode(vector.astype("<f4").tobytes()).decode() if encoding == "base64" else vector.tolist()
        )
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    state.stats.record_call("embeddings", model, input_tokens=tokens)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }, 0


def _anthropic_blocks(body: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = []

    def add(block: Any) -> None:
        if isinstance(block, str):
            block = {"type": "text", "text": block}
        control = block.get("cache_control") if isinstance(block, dict) else None
        material = {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block
        ttl = (control.get("ttl") or "5m") if isinstance(control, dict) else None
        blocks.append(Block(material, count_content_tokens(material), ttl))

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system or []:
        add(block)
    for message in body["messages"]:
        content = message.get("content")
        for block in [content] if isinstance(content, str) else content or []:
            add(block)
    return blocks


def _anthropic_message(state: EmulatorState, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    model = _required_model(body, "model: Field required")
    if not isinstance(body.get("max_tokens"), int):
        raise EmulatedError(400, "max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EmulatedError(400, "messages: at least one message is required")
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            raise EmulatedError(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
    blocks = _anthropic_blocks(body)
    breakpoints = sum(1 for b in blocks if b.breakpoint_ttl is not None)
    if breakpoints > MAX_BREAKPOINTS:
        raise EmulatedError(
            400, f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {breakpoints}."
        )
    try:
        minimum = state.pricing.price(model).min_cacheable_tokens
    except ConfigurationError:  # an unknown model still gets an answer, with the default minimum
        minimum = state.config.anthropic_default_min_cacheable_tokens
    account = anthropic_account(state.anthropic_cache, model, blocks, minimum)
    total = sum(b.tokens for b in blocks)
    text, output_tokens, cut = truncate_to_tokens(
        answer_for(state.config, _last_user_text(messages), body), int(body["max_tokens"])
    )
    state.anthropic_cache.commit(account.pending)
    written = account.write_5m_tokens + account.write_1h_tokens
    input_tokens = total - account.read_tokens - written
    state.stats.record_call(
        "messages",
        model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=account.read_tokens,
        cache_write_tokens=written,
    )
    response = {
        "id": f"msg_emu{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": account.read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": account.write_5m_tokens,
                "ephemeral_1h_input_tokens": account.write_1h_tokens,
            },
            "service_tier": "standard",
        },
    }
    return response, output_tokens


ROUTES = {
    "/v1/chat/completions": ("openai", _openai_completion),
    "/chat/completions": ("openai", _openai_completion),
    "/v1/embeddings": ("openai", _openai_embeddings),
    "/embeddings": ("openai", _openai_embeddings),
    "/v1/messages": ("anthropic", _anthropic_message),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stats endpoint and structlog say what happened."""

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-emulator", EMULATOR_HEADER)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/emulator/stats":
            self._send(200, json.dumps(self.server.state.stats.snapshot()).encode())
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0].rstrip("/")
        if path == "/emulator/reset":
            state.reset()
            self._send(200, b'{"reset": true}')
            return
        route = ROUTES.get(path)
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
        if flavour == "openai":
            payload: dict[str, Any] = {
                "error": {
                    "message": error.message,
                    "type": OPENAI_ERROR_TYPES.get(error.status, "server_error"),
                    "param": error.param,
                    "code": "rate_limit_exceeded" if error.status == 429 else None,
                }
            }
        else:
            payload = {
                "type": "error",
                "error": {"type": ANTHROPIC_ERROR_TYPES.get(error.status, "api_error"), "message": error.message},
                "request_id": request_id,
            }
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
