"""The metrics worker's Prometheus endpoint: a custom collector that reads one snapshot from Redis per scrape
(one pipelined round trip) and the count of live workers, which a background thread keeps from Celery pings."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis
import structlog
from celery import Celery

from llmcache.shared.metrics import prometheus_families, read_snapshot
from llmcache.shared.redis_keys import Keyspace

log = structlog.get_logger("llmcache.metrics_endpoint")


def queues_of(worker_name: str) -> str:
    """`llmcache-llm-maintenance-1234@host` -> "llm-maintenance" (how `llmcache worker` names its workers)."""
    node = worker_name.split("@", 1)[0]
    parts = node.split("-")
    if len(parts) >= 3 and parts[0] == "llmcache" and parts[-1].isdigit():
        return "-".join(parts[1:-1])
    return "unknown"


class WorkerCensus:
    """Pings the cluster every `interval` seconds in a daemon thread; a scrape reads the last answer."""

    def __init__(self, app: Celery, interval: float = 10.0, timeout: float = 2.0) -> None:
        self._app = app
        self._interval = interval
        self._timeout = timeout
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> dict[str, int]:
        try:
            replies = self._app.control.ping(timeout=self._timeout) or []
        except Exception as error:  # a Redis blip: keep the last count, say so
            log.warning("worker_ping_failed", error=str(error))
            return self.counts()
        counts = dict(Counter(queues_of(name) for reply in replies for name in reply))
        with self._lock:
            self._counts = counts
        return counts

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.poll_once()
                self._stop.wait(self._interval)

        self._thread = threading.Thread(target=loop, name="llmcache-worker-census", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


class LLMCacheCollector:
    """A prometheus_client collector: everything it exports is read at scrape time."""

    def __init__(
        self, client: redis.Redis, keyspace: Keyspace, queues: Sequence[str], census: WorkerCensus | None
    ) -> None:
        self._client = client
        self._keyspace = keyspace
        self._queues = tuple(queues)
        self._census = census

    def collect(self) -> Iterator[Any]:
        snapshot = read_snapshot(self._client, self._keyspace, self._queues)
        alive: Mapping[str, int] | None = self._census.counts() if self._census is not None else None
        return prometheus_families(snapshot, alive)
