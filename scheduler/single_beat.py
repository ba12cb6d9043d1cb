"""Exactly one beat schedules at a time: a Redis lock with an owner token, renewed while beat runs. A second beat
waits on standby and takes over when the first stops (or its lock expires).

Beat survives Redis going away (a restart, a failover): the leader checks that it still owns the lock before every
tick, so it stops scheduling as soon as the lock is gone (a restarted Redis forgets it), then reconnects with backoff
and competes for the lock again like a standby. Two beats never schedule at once: a beat ticks only right after
Redis confirmed its token and pushed the expiry a full TTL out, and it waits at most a third of the TTL between
confirmations.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import Enum
from typing import Protocol

import redis
import structlog
from redis.exceptions import LockError

from llmcache.shared.redis_keys import Keyspace

log = structlog.get_logger("llmcache.beat")


class Claim(Enum):
    LEADER = "leader"
    STANDBY = "standby"
    UNREACHABLE = "unreachable"


class BeatLock:
    def __init__(self, client: redis.Redis, keyspace: Keyspace, ttl_seconds: float, instance: str) -> None:
        self._redis = client
        self._key = keyspace.beat_lock()
        self.ttl = ttl_seconds
        self.instance = instance
        self._lock = client.lock(self._key, timeout=ttl_seconds, thread_local=False)

    def try_acquire(self) -> Claim:
        try:
            if self._lock.acquire(blocking=False, token=self.instance):
                return Claim.LEADER
            if self.holder() == self.instance and self.renew() is None:  # a blip: our lock outlived it
                return Claim.LEADER
            return Claim.STANDBY
        except redis.RedisError:
            return Claim.UNREACHABLE

    def holder(self) -> str | None:
        try:
            raw = self._redis.get(self._key)
        except redis.RedisError:
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    def renew(self) -> str | None:
        """Confirms this instance still owns the lock and pushes its expiry a full TTL out; returns why not, if not."""
        try:
            self._lock.reacquire()
        except LockError as error:  # LockNotOwnedError: expired, taken, or forgotten by a restarted Redis
            return f"{type(error).__name__}: {error}"
        except redis.RedisError as error:
            return f"{type(error).__name__}: {error}"
        return None

    def release(self) -> None:
        try:
            self._lock.release()
        except (LockError, redis.RedisError):
            log.info("beat_lock_already_gone", instance=self.instance)


class Ticker(Protocol):
    """The scheduler proper (Celery's beat scheduler in `workers`): `tick` sends what is due and returns the seconds
    until the next entry; `close` saves its state."""

    def tick(self) -> float: ...

    def close(self) -> None: ...


class SingleBeat:
    def __init__(
        self,
        lock: BeatLock,
        open_ticker: Callable[[], Ticker],
        *,
        standby_poll_seconds: float = 1.0,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 10.0,
    ) -> None:
        self._lock = lock
        self._open_ticker = open_ticker
        self._poll = standby_poll_seconds
        self._backoff = (backoff_initial_seconds, backoff_max_seconds)

    def run(self, stop: threading.Event) -> None:
        """Schedules while this instance holds the lock, until `stop` is set."""
        ticker: Ticker | None = None
        state: Claim | None = None
        delay = self._backoff[0]
        instance = self._lock.instance
        try:
            while not stop.is_set():
                if ticker is None:
                    claim = self._lock.try_acquire()
                    if claim is Claim.LEADER:
                        log.info("beat_leader", instance=instance)
                        ticker = self._open_ticker()
                        state, delay = claim, self._backoff[0]
                        continue
                    if claim is Claim.STANDBY:
                        if state is not Claim.STANDBY:
                            log.info("beat_standby", instance=instance, holder=self._lock.holder())
                        state, delay = claim, self._backoff[0]
                        stop.wait(self._poll)
                        continue
                    if state is not Claim.UNREACHABLE:
                        log.warning("beat_redis_unreachable", instance=instance, retry_in_seconds=delay)
                    state = claim
                    stop.wait(delay)
                    delay = min(delay * 2, self._backoff[1])
                    continue
                lost = self._lock.renew()
                if lost is not None:
                    log.warning(
                        "beat_lock_lost", instance=instance, error=lost, action="stopped scheduling; reconnecting"
                    )
                    self._close(ticker)
                    ticker, state = None, None
                    continue
                try:
                    interval = ticker.tick()
                except Exception as error:  # a publish that failed mid-outage: retried on the next tick
                    log.warning("beat_tick_failed", instance=instance, error=f"{type(error).__name__}: {error}")
                    interval = delay
                stop.wait(max(0.0, min(interval, self._lock.ttl / 3)))
        finally:
            if ticker is not None:
                self._close(ticker)
                self._lock.release()

    @staticmethod
    def _close(ticker: Ticker | None) -> None:
        if ticker is None:
            return
        try:
            ticker.close()
        except Exception as error:
            log.warning("beat_schedule_not_saved", error=f"{type(error).__name__}: {error}")
