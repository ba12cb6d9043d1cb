"""What crosses a boundary in a batch run: the chunk tasks' arguments (Celery, JSON) and what workers push on the
run's results list (Redis, JSON). Vectors travel as base64 float32."""

from __future__ import annotations

import base64
import zlib
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llmcache.shared.embedding.base import Vectors
from llmcache.workers.batch.formats import BatchFormat, LineOptions


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def encode_vector(vector: Vectors | None) -> str | None:
    return None if vector is None else base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def decode_vector(text: str | None) -> Vectors | None:
    return None if text is None else np.frombuffer(base64.b64decode(text), dtype="<f4")


_Chunk = TypeVar("_Chunk", bound=BaseModel)


def pack_chunk(chunk: BaseModel) -> str:
    """A chunk task's argument: its JSON, zlib-compressed (level 1: 256 lines repeat one long system prompt, ~2 MB a
    chunk, ~15 KB packed, in 3 ms), as base64 text. Packed here rather than by Celery's `compression`, so that the
    worker never runs a JSON decoder over the 2 MB: the task message's JSON holds a short string, and the chunk's
    own JSON goes straight to pydantic."""
    return base64.b64encode(zlib.compress(chunk.model_dump_json().encode(), 1)).decode("ascii")


def unpack_chunk(text: str, model: type[_Chunk]) -> _Chunk:
    """`pack_chunk`'s inverse; plain JSON too (what a client of an earlier version sends)."""
    if text.startswith("{"):
        return model.model_validate_json(text)
    return model.model_validate_json(zlib.decompress(base64.b64decode(text)))


class RunSpec(_Model):
    """What every task of one run shares."""

    run_id: str
    key_prefix: str
    fmt: BatchFormat
    defaults: LineOptions = Field(default_factory=LineOptions)
    max_prompt_chars: int


class ChunkLine(_Model):
    line: int
    custom_id: str | None
    digest: str
    text: str
    waited_on: str | None = None  # looked up again after this run's leader (its custom_id) was answered


class LookupChunk(_Model):
    run: RunSpec
    chunk_id: str
    attempt: int = 0
    lines: list[ChunkLine]


class AnswerItem(_Model):
    """One distinct miss: its request key, the leader's line, the vector its lookup computed."""

    key: str
    line: ChunkLine
    vector: str | None = None
    looks_up: bool = True  # False for no_cache lines: answered fresh


class AnswerChunk(_Model):
    run: RunSpec
    chunk_id: str
    attempt: int = 0
    items: list[AnswerItem]


class Usage4(_Model):
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0


class Row(_Model):
    """One output line, already serialised, with what the client's summary counts."""

    line: int
    custom_id: str | None
    text: str
    outcome: str
    key: str | None = None  # answering: the request key it answers (its followers get the same answer)
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    provider_called: bool = False
    retryable: bool | None = None  # set on error lines
    usage: Usage4 | None = None  # set when the provider was called
    paid_not_stored: bool = False


class MissLine(_Model):
    line: int
    custom_id: str
    digest: str


class MissInfo(_Model):
    """A request key that the cache could not answer, with every line of the chunk that asks it."""

    key: str
    lines: list[MissLine]
    context_fp: str | None = None
    text: str | None = None  # the semantic text, for the guard
    vector: str | None = None
    threshold: float | None = None  # the cosine floor, where semantic matching applies
    namespace: str
    looks_up: bool = True
    waited: bool = False  # these lines already waited on a leader once: they lead now, or follow an identical one


class ChunkResult(_Model):
    kind: Literal["lookup", "answer"]
    chunk_id: str
    attempt: int
    rows: list[Row] = Field(default_factory=list)
    misses: list[MissInfo] = Field(default_factory=list)
    done: bool = True  # the last message of this attempt
    skipped: bool = False  # the run was gone (its client ended): nothing done
    stages: dict[str, float] = Field(default_factory=dict)
    embedder: str | None = None
    dimension: int | None = None
    worker: str | None = None
