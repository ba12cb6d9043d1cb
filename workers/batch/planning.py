"""The client's file-wide dedupe of misses, before any provider call.

A miss whose request key already has a leader in flight follows it. A miss whose nearest in-flight leader in the
same context fingerprint (namespace, prompt version, scope, everything but the question) is at or above the
cosine floor, and which the false-hit guard accepts as that leader's equivalent, follows it too: the same rule
the cache applies to a stored answer, applied to one not yet stored. Every other miss leads. A leader stays here
until its answer comes back; a later equivalent is then a cache hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from shared.embedding.base import Vectors
from shared.guard.verifier import FalseHitGuard
from shared.policy import NamespacePolicy
from workers.batch.messages import MissInfo, MissLine, decode_vector


@dataclass(frozen=True)
class Follower:
    line: MissLine
    similarity: float | None  # None: the identical request


@dataclass
class Leader:
    key: str
    line: MissLine
    info: MissInfo
    followers: list[Follower] = field(default_factory=list)


class _Context:
    """Leaders in flight in one context: an append-only matrix with a liveness mask, compacted when half dead."""

    def __init__(self, dimension: int) -> None:
        self.keys: list[str] = []
        self.texts: list[str] = []
        self.position: dict[str, int] = {}
        self.vectors = np.zeros((16, dimension), dtype=np.float32)
        self.alive = np.zeros(16, dtype=bool)
        self.size = 0
        self.live = 0

    def add(self, key: str, text: str, vector: Vectors) -> None:
        if self.size == len(self.alive):
            if self.live * 2 < self.size:
                self._compact()
            if self.size == len(self.alive):
                self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
                self.alive = np.concatenate([self.alive, np.zeros_like(self.alive)])
        self.position[key] = self.size
        self.keys.append(key)
        self.texts.append(text)
        self.vectors[self.size] = vector
        self.alive[self.size] = True
        self.size += 1
        self.live += 1

    def remove(self, key: str) -> None:
        position = self.position.pop(key, None)
        if position is not None and self.alive[position]:
            self.alive[position] = False
            self.live -= 1

    def nearest(self, vector: Vectors) -> tuple[int, float] | None:
        if self.live == 0:
            return None
        scores = self.vectors[: self.size] @ vector
        scores[~self.alive[: self.size]] = -np.inf
        best = int(np.argmax(scores))
        return best, float(scores[best])

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive[: self.size])
        self.keys = [self.keys[i] for i in keep]
        self.texts = [self.texts[i] for i in keep]
        self.position = {key: i for i, key in enumerate(self.keys)}
        vectors = np.zeros_like(self.vectors)
        vectors[: len(keep)] = self.vectors[keep]
        self.vectors = vectors
        self.alive = np.zeros_like(self.alive)
        self.alive[: len(keep)] = True
        self.size = self.live = len(keep)


class MissPlanner:
    """`policy` gives a namespace's policy; `guard` is built on first use (the learned verifier loads then)."""

    def __init__(self, policy: Callable[[str], NamespacePolicy], guard: Callable[[], FalseHitGuard]) -> None:
        self._policy = policy
        self._make_guard = guard
        self._guard: FalseHitGuard | None = None
        self._leaders: dict[str, Leader] = {}
        self._contexts: dict[str, _Context] = {}
        self._context_of: dict[str, str] = {}
        self.deduped_identical = 0
        self.deduped_semantic = 0

    def __len__(self) -> int:
        return len(self._leaders)

    def leader(self, key: str) -> Leader | None:
        return self._leaders.get(key)

    def place(self, info: MissInfo) -> Leader | None:
        """The new leader this miss makes, or None when every line of it follows a leader in flight."""
        existing = self._leaders.get(info.key)
        if existing is not None:
            existing.followers.extend(Follower(line, None) for line in info.lines)
            self.deduped_identical += len(info.lines)
            return None
        vector = decode_vector(info.vector)
        equivalent = self._equivalent(info, vector)
        if equivalent is not None:
            leader, similarity = equivalent
            leader.followers.extend(Follower(line, similarity) for line in info.lines)
            self.deduped_semantic += len(info.lines)
            return None
        first, *rest = info.lines
        leader = Leader(info.key, first, info, [Follower(line, None) for line in rest])
        self.deduped_identical += len(rest)
        self._leaders[info.key] = leader
        if vector is not None and info.context_fp is not None and info.text is not None and info.looks_up:
            context = self._contexts.get(info.context_fp)
            if context is None:
                context = self._contexts[info.context_fp] = _Context(len(vector))
            context.add(info.key, info.text, vector)
            self._context_of[info.key] = info.context_fp
        return leader

    def _equivalent(self, info: MissInfo, vector: Vectors | None) -> tuple[Leader, float] | None:
        if vector is None or info.context_fp is None or info.text is None or info.threshold is None:
            return None
        if not info.looks_up:
            return None
        context = self._contexts.get(info.context_fp)
        found = context.nearest(vector) if context is not None else None
        if context is None or found is None or found[1] < info.threshold:
            return None
        position, similarity = found
        policy = self._policy(info.namespace)
        if policy.guard:
            if self._guard is None:
                self._guard = self._make_guard()
            verdict = self._guard.verify(
                info.text,
                context.texts[position],
                query_vector=vector,
                cached_vector=context.vectors[position],
                thresholds=policy.verifier_thresholds(),
            )
            if not verdict.allowed:  # the nearest differs in a specific: a farther one would match worse still
                return None
        return self._leaders[context.keys[position]], similarity

    def finish(self, key: str) -> Leader | None:
        """The leader's answer came back: it leaves, with its followers."""
        leader = self._leaders.pop(key, None)
        context_fp = self._context_of.pop(key, None)
        if context_fp is not None:
            self._contexts[context_fp].remove(key)
        return leader
