"""Batch-run settings, from `LLMCACHE_BATCH__*` variables (the CLI's flags override the client's)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMCACHE_BATCH__", extra="ignore")

    # lines per lookup chunk: one MGET, one batched embedding and one batched search each (bench/batch.py: 256)
    chunk_size: Annotated[int, Field(ge=1, le=4096)] = 256
    lookup_window: Annotated[int, Field(ge=1)] = 4  # lookup chunks in flight at once
    answer_chunk_size: Annotated[int, Field(ge=1, le=4096)] = 32  # distinct misses per answering task
    answer_window: Annotated[int, Field(ge=1)] = 8  # answering tasks in flight at once
    answer_concurrency: Annotated[int, Field(ge=1)] = 16  # provider calls in flight per provider/model per worker
    store_every: Annotated[int, Field(ge=1)] = 16  # answers stored (and written) in groups of this many ...
    store_every_seconds: Annotated[float, Field(gt=0)] = 0.5  # ... or after this long
    max_prompt_chars: Annotated[int, Field(ge=1)] = 400_000  # system + messages text of one line
    lease_seconds: Annotated[float, Field(gt=0)] = 5.0  # a chunk whose lease lapses without its result is re-run
    heartbeat_seconds: Annotated[float, Field(gt=0)] = 1.0
    unclaimed_seconds: Annotated[float, Field(gt=0)] = 10.0  # queued, never leased, while later chunks were
    stall_seconds: Annotated[float, Field(gt=0)] = 30.0  # nothing leased, nothing back: the queue lost it
    results_ttl_seconds: Annotated[int, Field(gt=0)] = 3600  # the run's results list, while nobody reads it
