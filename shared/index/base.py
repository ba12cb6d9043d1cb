"""The vector index contract, shared by the Qdrant Edge (embedded) and Qdrant server adapters.

Filters are written once here as plain conditions; each adapter only translates them to its own classes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from llmcache.shared.embedding.base import Vectors

NO_USER = ""  # payload value for "not user-scoped": Qdrant matches values, not nulls, cheaply

INDEXED_KEYWORD_FIELDS = ("entry_id", "context_fp", "namespace", "version", "tenant", "user")
INDEXED_FLOAT_FIELDS = ("expires_at", "created_at")


def point_id_for(entry_id: str) -> str:
    """Qdrant ids are ints or UUIDs: the first 128 bits of the (sha256 hex) entry id."""
    return str(uuid.UUID(hex=entry_id[:32]))


class PointPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str
    context_fp: str
    embedder: str = ""  # the vector space (llmcache.shared.request_keys.embedder_identity); also inside context_fp
    namespace: str
    version: str
    tenant: str
    user: str = NO_USER
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class IndexPoint:
    vector: Vectors
    payload: PointPayload

    @property
    def point_id(self) -> str:
        return point_id_for(self.payload.entry_id)


def stored_vector(raw: Any) -> Vectors | None:
    """A search hit's vector as both engines return it: a list, or keyed by vector name."""
    if isinstance(raw, dict):
        raw = next(iter(raw.values()), None)
    return None if raw is None else np.asarray(raw, dtype=np.float32)


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    vector: Vectors | None = None  # the stored point's vector, for the guard's learned verifier


@dataclass(frozen=True)
class Condition:
    """One payload condition: `match` (equals value), `except` (none of values), `lt` / `gt` (float range)."""

    kind: Literal["match", "except", "lt", "gt"]
    key: str
    value: str | float | tuple[str, ...]


@dataclass(frozen=True)
class PointSelector:
    """Which points a search, count or delete is about; every set field must hold (AND)."""

    context_fp: str | None = None
    namespace: str | None = None
    version: str | None = None
    versions_except: tuple[str, ...] | None = None
    tenant: str | None = None
    user: str | None = None
    expires_before: float | None = None
    expires_after: float | None = None
    created_before: float | None = None
    entry_ids: tuple[str, ...] | None = field(default=None)

    def conditions(self) -> list[Condition]:
        conditions: list[Condition] = []
        for key in ("context_fp", "namespace", "version", "tenant", "user"):
            value = getattr(self, key)
            if value is not None:
                conditions.append(Condition("match", key, value))
        if self.versions_except is not None:
            conditions.append(Condition("except", "version", self.versions_except))
        if self.expires_before is not None:
            conditions.append(Condition("lt", "expires_at", float(self.expires_before)))
        if self.expires_after is not None:
            conditions.append(Condition("gt", "expires_at", float(self.expires_after)))
        if self.created_before is not None:
            conditions.append(Condition("lt", "created_at", float(self.created_before)))
        return conditions


@runtime_checkable
class VectorIndex(Protocol):
    def ensure_ready(self) -> None:
        """Create the collection/shard and payload indexes if missing (idempotent)."""
        ...

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...

    def search(self, vector: Vectors, selector: PointSelector, threshold: float, limit: int) -> list[Candidate]:
        """Nearest neighbours among points matching `selector`, best first, with score >= threshold."""
        ...

    def search_batch(
        self, vectors: Vectors, selectors: Sequence[PointSelector], threshold: float, limit: int
    ) -> list[list[Candidate]]: ...

    def delete_ids(self, entry_ids: Sequence[str]) -> None: ...

    def delete_where(self, selector: PointSelector) -> int:
        """Delete matching points; returns how many there were."""
        ...

    def count(self, selector: PointSelector | None = None) -> int: ...

    def optimize(self) -> None:
        """Build/merge index structures where the engine does not do it in the background."""
        ...

    def close(self) -> None: ...
