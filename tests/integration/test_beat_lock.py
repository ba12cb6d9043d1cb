"""The single-beat lock on real Redis: one leader at a time, a leader keeps its lock across a connection blip, and a
lock that Redis forgot (a restart without persistence) is noticed by the old leader before its next tick."""

from __future__ import annotations

import redis

from llmcache.scheduler.single_beat import BeatLock, Claim
from llmcache.shared.redis_keys import Keyspace
from tests.conftest import free_port


def test_one_leader_and_a_forgotten_lock_moves_to_the_standby(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    first = BeatLock(client, Keyspace(key_prefix), ttl_seconds=30, instance="host:1")
    second = BeatLock(client, Keyspace(key_prefix), ttl_seconds=30, instance="host:2")
    assert first.try_acquire() is Claim.LEADER
    assert second.try_acquire() is Claim.STANDBY
    assert second.holder() == "host:1"
    assert first.try_acquire() is Claim.LEADER  # its own lock, still held after a blip: no wait for the TTL
    assert first.renew() is None and second.renew() is not None
    client.delete(Keyspace(key_prefix).beat_lock())  # what a restarted Redis without persistence does
    lost = first.renew()
    assert lost is not None and "LockNotOwnedError" in lost
    assert second.try_acquire() is Claim.LEADER
    assert first.try_acquire() is Claim.STANDBY  # the old leader does not schedule next to the new one
    second.release()
    assert first.try_acquire() is Claim.LEADER
    first.release()


def test_an_unreachable_redis_is_neither_leader_nor_standby() -> None:
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=2)
    lock = BeatLock(dead, Keyspace("llmcache-test-dead"), ttl_seconds=30, instance="host:1")
    assert lock.try_acquire() is Claim.UNREACHABLE
    assert lock.renew() is not None and lock.holder() is None
