"""Emulator settings: plain data."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class EmulatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # answers: normalised last user message (lower case, collapsed spaces) -> answer; others derive from a hash
    answer_book: dict[str, str] = Field(default_factory=dict)
    answer_tokens_min: Annotated[int, Field(ge=1)] = 12
    answer_tokens_max: Annotated[int, Field(ge=1)] = 60
    # latency: time to first token + per output token
    time_to_first_token_ms: Annotated[float, Field(ge=0)] = 0.0
    per_output_token_ms: Annotated[float, Field(ge=0)] = 0.0
    # fault injection by rate, e.g. {"429": 0.05, "529": 0.01, "timeout": 0.01}; seeded, so runs repeat
    fault_rates: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    fault_seed: int = 0
    retry_after_seconds: Annotated[float, Field(ge=0)] = 1.0
    timeout_hang_seconds: Annotated[float, Field(ge=0)] = 30.0
    # prompt caching
    openai_min_cached_tokens: int = 1024
    openai_cache_step_tokens: int = 128
    openai_cache_retention_seconds: float = 600.0
    anthropic_default_min_cacheable_tokens: int = 1024
    embedding_dimensions: int = 1536
    # Batch APIs (OpenAI /v1/batches, Anthropic /v1/messages/batches): a batch stays in each phase this long
    batch_validating_seconds: Annotated[float, Field(ge=0)] = 0.0
    batch_completion_seconds: Annotated[float, Field(ge=0)] = 0.0  # in_progress before its requests are answered
    batch_finalizing_seconds: Annotated[float, Field(ge=0)] = 0.0
    # hold: batches stay in_progress until `POST /emulator/batches/release` (tests stop a run mid-batch with it)
    batch_hold: bool = False
    # partial expiry: this fraction of each batch's requests (the last ones) runs out of the completion window
    batch_expire_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    # per-request faults inside batches: custom_id or normalised last user message -> "400" | "429" | "500"
    batch_request_faults: dict[str, str] = Field(default_factory=dict)
    # the providers' documented limits (lower them in tests to exercise splitting)
    openai_batch_max_requests: Annotated[int, Field(ge=1)] = 50_000
    openai_batch_max_bytes: Annotated[int, Field(ge=1)] = 200 * 1024 * 1024
    anthropic_batch_max_requests: Annotated[int, Field(ge=1)] = 100_000
    anthropic_batch_max_bytes: Annotated[int, Field(ge=1)] = 256 * 1024 * 1024
