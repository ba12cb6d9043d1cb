"""Leases: how a batch client learns in seconds that a worker died with its chunk.

A worker that starts a chunk sets `batch:<run>:lease:<chunk>` with a short expiry and a heartbeat thread renews it
every second while the chunk runs; the chunk's last message on the results list comes before the lease is
dropped. The client reads the leases of its chunks in flight (one MGET): a chunk that was leased, whose lease
lapsed and whose last message never came, was lost (worker killed, Redis restarted): the client sends the lines
it still lacks again. Celery's visibility timeout (an hour) would bring it back much later: by then the run is
over, and the task sees that the run is gone and does nothing.

Keys of one run, all with a short expiry: `batch:<run>:alive` (renewed by the client), `:results` (a list that
workers RPUSH and the client pops), `:lease:<chunk>`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis
import structlog

log = structlog.get_logger("llmcache.batch.lease")


@dataclass(frozen=True)
class RunKeys:
    prefix: str
    run_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:batch:{self.run_id}"

    @property
    def results(self) -> str:
        return f"{self.base}:results"

    @property
    def alive(self) -> str:
        return f"{self.base}:alive"

    def lease(self, chunk_id: str) -> str:
        return f"{self.base}:lease:{chunk_id}"


class LeaseKeeper:
    """Worker side. Thread-safe; the heartbeat thread starts with the first lease."""

    def __init__(
        self, connect: Callable[[], redis.Redis], *, lease_seconds: float = 5.0, heartbeat_seconds: float = 1.0
    ) -> None:
        self._connect = connect
        self._lease_ms = int(lease_seconds * 1000)
        self._heartbeat = heartbeat_seconds
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None

    def _redis(self) -> redis.Redis:
        with self._lock:  # one client: a second one, dropped, would close its connections under the first
            if self._client is None:
                self._client = self._connect()
            return self._client

    @contextlib.contextmanager
    def hold(self, key: str, token: str) -> Iterator[None]:
        with self._lock:
            self._held[key] = token
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name="llmcache-batch-lease", daemon=True)
                self._thread.start()
        self._renew({key: token})
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(key, None)
            with contextlib.suppress(Exception):
                self._redis().delete(key)

    def _renew(self, held: dict[str, str]) -> None:
        try:
            pipe = self._redis().pipeline(transaction=False)
            for key, token in held.items():
                pipe.set(key, token, px=self._lease_ms)  # SET, not PEXPIRE: a Redis that restarted gets it back
            pipe.execute()
        except Exception as error:  # the heartbeat must outlive any one failure; a lapsed lease is re-run
            log.warning("batch_lease_renew_failed", error=str(error), leases=len(held))

    def _beat(self) -> None:
        while True:
            time.sleep(self._heartbeat)
            with self._lock:
                held = dict(self._held)
            if held:
                self._renew(held)
