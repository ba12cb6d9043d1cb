"""The emulator's shared state and its error type (every endpoint module uses both)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from llmcache.shared.providers.pricing import PricingTable
from llmcache.testing.emulator.accounting import PrefixCache
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.stats import EmulatorStats

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
    # Batch API objects (files, OpenAI batches, Anthropic message batches): id -> the module's own record
    files: dict[str, Any] = field(default_factory=dict)
    openai_batches: dict[str, Any] = field(default_factory=dict)
    anthropic_batches: dict[str, Any] = field(default_factory=dict)
    batches_released: threading.Event = field(default_factory=threading.Event)

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
            self.files.clear()
            self.openai_batches.clear()
            self.anthropic_batches.clear()
        self.batches_released.clear()

    def configure(self, **changes: Any) -> None:
        """Change settings of a running emulator (tests: completion delay, faults, expiry, hold)."""
        self.config = self.config.model_copy(update=changes)


@dataclass(frozen=True)
class EmulatorResponse:
    """One HTTP answer, independent of the transport (the stdlib server or an httpx transport)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def openai_error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": OPENAI_ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": code if code is not None else ("rate_limit_exceeded" if status == 429 else None),
        }
    }


def anthropic_error_body(status: int, message: str, request_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": request_id,
    }
