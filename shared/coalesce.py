"""Single-flight on Redis: concurrent identical (same request key) or semantically equal (same context
fingerprint, cosine above the threshold) jobs make one provider call.

The leader holds `inflight:<request key>` (SET NX PX: a dead leader's lock expires and a waiter takes over) and, when
the namespace allows semantic matching, registers its embedding under `inflight-ctx:<context fp>`. Checking the
registry and registering happen under a short per-context mutex, so two paraphrases arriving together cannot both
become leaders. Waiters do not block: the caller re-runs them a little later (Celery retry with a countdown),
when the leader's answer is in the cache. Redis errors (a lost connection, a context mutex not acquired in time)
leave as `BackendError`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

import numpy as np
import redis

from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import wraps_backend_errors
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.policy import VerifierThresholds
from llmcache.shared.redis_keys import Keyspace

_redis_errors = wraps_backend_errors("redis", (redis.RedisError,))


@dataclass(frozen=True)
class Leadership:
    request_key: str
    token: str
    context_fp: str | None


@dataclass(frozen=True)
class WaitOn:
    """Another job is answering this one: `request_key` is the leader's, `similarity` None for an identical job."""

    request_key: str
    similarity: float | None


class InflightCoordinator:
    def __init__(
        self,
        client: redis.Redis,
        keyspace: Keyspace,
        lock_seconds: float,
        mutex_seconds: float = 5.0,
        guard: FalseHitGuard | None = None,
    ) -> None:
        self._guard = guard
        self._redis = client
        self._keys = keyspace
        self._lock_ms = int(lock_seconds * 1000)
        self._mutex_seconds = mutex_seconds
        self._release_if_owner = client.register_script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
        )

    @_redis_errors
    def claim(
        self,
        request_key: str,
        context_fp: str | None,
        vector: Vectors | None,
        threshold: float | None,
        *,
        text: str | None = None,
        verifier: VerifierThresholds | None = None,
    ) -> Leadership | WaitOn:
        """Become the leader for this request, or learn whom to wait for. With `text`, a semantically close job
        in flight is waited for only when the false-hit guard (with its learned stage under `verifier`) would let
        its answer serve this one."""
        token = uuid.uuid4().hex
        if context_fp is None or vector is None or threshold is None:
            if self._redis.set(self._keys.inflight(request_key), token, nx=True, px=self._lock_ms):
                return Leadership(request_key, token, None)
            return WaitOn(request_key, None)
        mutex = self._redis.lock(
            self._keys.inflight_context_mutex(context_fp),
            timeout=self._mutex_seconds,
            blocking_timeout=self._mutex_seconds,
        )
        with mutex:
            similar = self._similar_in_flight(context_fp, request_key, vector, threshold, text=text, verifier=verifier)
            if similar is not None:
                return similar
            if not self._redis.set(self._keys.inflight(request_key), token, nx=True, px=self._lock_ms):
                return WaitOn(request_key, None)
            entry = {
                "vector": base64.b64encode(vector.astype("<f4").tobytes()).decode(),
                "text": text,
                "since": time.time(),
            }
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._keys.inflight_context(context_fp), request_key, json.dumps(entry))
            pipe.pexpire(self._keys.inflight_context(context_fp), self._lock_ms)
            pipe.execute()
        return Leadership(request_key, token, context_fp)

    def _similar_in_flight(
        self,
        context_fp: str,
        own_key: str,
        vector: Vectors,
        threshold: float,
        *,
        text: str | None,
        verifier: VerifierThresholds | None,
    ) -> WaitOn | None:
        registry = self._keys.inflight_context(context_fp)
        best: WaitOn | None = None
        stale: list[str] = []
        for raw_key, raw in self._redis.hgetall(registry).items():
            leader_key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            if leader_key == own_key:
                continue
            if not self._redis.exists(self._keys.inflight(leader_key)):  # its leader died or finished
                stale.append(leader_key)
                continue
            registered = json.loads(raw)
            other = np.frombuffer(base64.b64decode(registered["vector"]), dtype="<f4")
            similarity = float(np.dot(vector, other))
            if similarity < threshold or (best is not None and similarity <= (best.similarity or 0.0)):
                continue
            if not self._guard_allows(text, registered.get("text"), vector, other, verifier=verifier):
                continue
            best = WaitOn(leader_key, similarity)
        if stale:
            self._redis.hdel(registry, *stale)
        return best

    def _guard_allows(
        self,
        text: str | None,
        leader_text: str | None,
        vector: Vectors,
        leader_vector: Vectors,
        *,
        verifier: VerifierThresholds | None,
    ) -> bool:
        if self._guard is None or text is None or leader_text is None:
            return True
        verdict = self._guard.verify(
            text, leader_text, query_vector=vector, cached_vector=leader_vector, thresholds=verifier
        )
        return verdict.allowed

    @_redis_errors
    def is_in_flight(self, request_key: str) -> bool:
        return bool(self._redis.exists(self._keys.inflight(request_key)))

    @_redis_errors
    def release(self, leadership: Leadership) -> None:
        """Drop the lock if it is still ours (a lock that expired may belong to a new leader by now)."""
        lock_key = self._keys.inflight(leadership.request_key)
        self._release_if_owner(keys=[lock_key], args=[leadership.token])
        if leadership.context_fp is not None:
            self._redis.hdel(self._keys.inflight_context(leadership.context_fp), leadership.request_key)
