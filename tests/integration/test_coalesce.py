"""The single-flight coordinator on real Redis (no worker processes)."""

from __future__ import annotations

import numpy as np
import redis

from llmcache.shared.coalesce import InflightCoordinator, Leadership, WaitOn
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.policy import VerifierThresholds
from llmcache.shared.redis_keys import Keyspace


def coordinator(redis_url: str, key_prefix: str, lock_seconds: float = 30) -> InflightCoordinator:
    return InflightCoordinator(
        redis.Redis.from_url(redis_url),
        Keyspace(key_prefix),
        lock_seconds,
        guard=FalseHitGuard(verifier=LearnedVerifier()),
    )


def test_identical_job_waits_and_the_lock_is_released(redis_url: str, key_prefix: str) -> None:
    single = coordinator(redis_url, key_prefix)
    leader = single.claim("key-1", None, None, None)
    assert isinstance(leader, Leadership)
    assert single.claim("key-1", None, None, None) == WaitOn("key-1", None)
    single.release(leader)
    assert isinstance(single.claim("key-1", None, None, None), Leadership)


def test_a_dead_leaders_lock_expires_and_a_waiter_takes_over(redis_url: str, key_prefix: str) -> None:
    short = coordinator(redis_url, key_prefix, lock_seconds=0.2)
    assert isinstance(short.claim("key-2", None, None, None), Leadership)  # this leader never releases
    assert isinstance(short.claim("key-2", None, None, None), WaitOn)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl(Keyspace(key_prefix).inflight("key-2")) <= 200  # expiry, not luck, frees it
    client.pexpire(Keyspace(key_prefix).inflight("key-2"), 1)
    while client.exists(Keyspace(key_prefix).inflight("key-2")):
        pass
    assert isinstance(short.claim("key-2", None, None, None), Leadership)


def test_paraphrase_in_flight_waits_unless_the_guard_sees_a_changed_specific(
    redis_url: str, key_prefix: str, embedder: Embedder
) -> None:
    single = coordinator(redis_url, key_prefix)
    texts = [
        "How do I cancel my subscription?",
        "How can I cancel the subscription?",
        "How do I pause my subscription?",
    ]
    vectors = embedder.embed_batch(texts)
    assert float(np.dot(vectors[0], vectors[2])) > 0.75  # close enough for cosine alone to coalesce them
    leader = single.claim("k-cancel", "ctx", vectors[0], 0.75, text=texts[0])
    assert isinstance(leader, Leadership)
    waiting = single.claim("k-cancel-2", "ctx", vectors[1], 0.75, text=texts[1])
    assert isinstance(waiting, WaitOn) and waiting.request_key == "k-cancel"
    assert isinstance(single.claim("k-pause", "ctx", vectors[2], 0.75, text=texts[2]), Leadership)  # pause != cancel
    assert isinstance(single.claim("k-other-ctx", "ctx-2", vectors[1], 0.75, text=texts[1]), Leadership)
    # the learned stage applies to coalescing too: a verifier that vetoes everything leaves nothing to wait for
    vetoing = VerifierThresholds(veto_below=1.0, rescue_above=1.0)
    alone = single.claim("k-cancel-3", "ctx", vectors[1], 0.75, text=texts[1], verifier=vetoing)
    assert isinstance(alone, Leadership)
