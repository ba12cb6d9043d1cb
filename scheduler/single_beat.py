"""Exactly one beat schedules at a time: a Redis lock with an owner token, renewed while beat runs. A second beat
waits on standby and takes over when the first stops (or its lock expires)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import redis
import structlog

from shared.keyspace import Keyspace

log = structlog.get_logger("llmcache.beat")


class BeatLock:
    def __init__(self, client: redis.Redis, keyspace: Keyspace, ttl_seconds: float, instance: str) -> None:
        self._redis = client
        self._key = keyspace.beat_lock()
        self._ttl = ttl_seconds
        self.instance = instance
        self._lock = client.lock(self._key, timeout=ttl_seconds, thread_local=False)
        self._stop = threading.Event()

    def acquire(self, poll_seconds: float = 1.0) -> None:
        """Blocks until this instance is the one beat."""
        announced = False
        while not self._lock.acquire(blocking=False, token=self.instance):
            if not announced:
                holder = self._redis.get(self._key)
                log.info(
                    "beat_standby",
                    instance=self.instance,
                    holder=holder.decode() if isinstance(holder, bytes) else holder,
                )
                announced = True
            time.sleep(poll_seconds)
        log.info("beat_leader", instance=self.instance)

    def keep_alive(self, on_lost: Callable[[], None] = lambda: os._exit(3)) -> threading.Thread:
        """Renews the lock every third of its TTL; losing it stops this process from scheduling at once."""

        def renew() -> None:
            while not self._stop.wait(self._ttl / 3):
                try:
                    self._lock.reacquire()
                except Exception as error:
                    log.error("beat_lock_lost", instance=self.instance, error=str(error))
                    on_lost()
                    return

        thread = threading.Thread(target=renew, name="beat-lock", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        self._stop.set()
        try:
            self._lock.release()
        except Exception:
            log.info("beat_lock_already_gone", instance=self.instance)
