"""Jobs and their results: what producers send to workers and get back (pydantic, JSON on the wire)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from llmcache.shared.models import CacheRequest, Completion


class JobOverrides(BaseModel):
    """Per-job policy: `no_cache` skips the lookup (the answer is still stored unless `no_store`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_cache: bool = False
    no_store: bool = False
    ttl_seconds: Annotated[int, Field(gt=0)] | None = None
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None


class Job(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    custom_id: str | None = None
    request: CacheRequest
    overrides: JobOverrides = Field(default_factory=JobOverrides)


class Outcome(StrEnum):
    EXACT = "exact"
    SEMANTIC = "semantic"
    COALESCED = "coalesced"
    MISS = "miss"
    ERROR = "error"


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    status: int | None = None
    retryable: bool = False


class JobResult(BaseModel):
    """`completion` is the answer (stored or fresh); `cost_usd` what this job paid the provider (0 on a hit);
    `saved_usd` what a hit avoided (the cost of the call that produced the cached answer)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    custom_id: str | None = None
    outcome: Outcome
    similarity: float | None = None
    completion: Completion | None = None
    error: JobError | None = None
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    provider_called: bool = False
    stored: bool = False
    latency_ms: float = 0.0
    entry_id: str | None = None
