"""The client's file-wide dedupe of misses, before any provider call.

A miss whose request key already has a leader in flight follows it: it gets the leader's answer. A miss whose
nearest in-flight leader in the same context fingerprint (namespace, prompt version, scope, everything but the
question) is at or above the cosine floor waits for that leader: once the leader's answer is stored, the line is
looked up again on a worker, where the cache and its false-hit guard decide (a hit is then `coalesced`; a line
the guard refuses leads, once). The guard so runs where it always runs, with the same models, and a waiting line
never costs a provider call that the cache would have saved. Every other miss leads. A leader stays here until
its answer comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmcache.shared.embedding.base import Vectors
from llmcache.workers.batch.messages import MissInfo, MissLine, decode_vector


@dataclass
class Leader:
    key: str
    line: MissLine
    info: MissInfo
    followers: list[MissLine] = field(default_factory=list)  # the identical request: they get its answer
    waiting: list[tuple[MissLine, float]] = field(default_factory=list)  # close ones: looked up again after it


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
    def __init__(self) -> None:
        self._leaders: dict[str, Leader] = {}
        self._contexts: dict[str, _Context] = {}
        self._context_of: dict[str, str] = {}
        self.deduped_identical = 0
        self.waited = 0

    def __len__(self) -> int:
        return len(self._leaders)

    def leader(self, key: str) -> Leader | None:
        return self._leaders.get(key)

    def place(self, info: MissInfo) -> Leader | None:
        """The new leader this miss makes, or None when every line of it follows or waits on a leader in flight."""
        existing = self._leaders.get(info.key)
        if existing is not None:
            existing.followers.extend(info.lines)
            self.deduped_identical += len(info.lines)
            return None
        vector = decode_vector(info.vector)
        close = self._close(info, vector)
        if close is not None:
            leader, similarity = close
            leader.waiting.extend((line, similarity) for line in info.lines)
            self.waited += len(info.lines)
            return None
        first, *rest = info.lines
        leader = Leader(info.key, first, info, list(rest))
        self.deduped_identical += len(rest)
        self._leaders[info.key] = leader
        if vector is not None and info.context_fp is not None and info.looks_up:
            context = self._contexts.get(info.context_fp)
            if context is None:
                context = self._contexts[info.context_fp] = _Context(len(vector))
            context.add(info.key, info.text or "", vector)
            self._context_of[info.key] = info.context_fp
        return leader

    def _close(self, info: MissInfo, vector: Vectors | None) -> tuple[Leader, float] | None:
        if vector is None or info.context_fp is None or info.threshold is None or info.waited or not info.looks_up:
            return None
        context = self._contexts.get(info.context_fp)
        found = context.nearest(vector) if context is not None else None
        if context is None or found is None or found[1] < info.threshold:
            return None
        position, similarity = found
        return self._leaders[context.keys[position]], similarity

    def finish(self, key: str) -> Leader | None:
        """The leader's answer came back: it leaves, with its followers and the lines waiting on it."""
        leader = self._leaders.pop(key, None)
        context_fp = self._context_of.pop(key, None)
        if context_fp is not None:
            self._contexts[context_fp].remove(key)
        return leader
