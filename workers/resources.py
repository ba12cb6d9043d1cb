"""Per-process resources (embedder, index, provider clients), built on worker start or first use, never at
import. Each is built only when a task needs it: the metrics worker never opens the Qdrant Edge shard."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field

import redis

from llmcache.shared.coalesce import InflightCoordinator
from llmcache.shared.config import Settings
from llmcache.shared.metrics import MetricsRecorder, MetricsRollup
from llmcache.shared.pipeline import JobProcessor
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.lint import PromptLintReporter
from llmcache.shared.redis_keys import Keyspace
from llmcache.shared.runtime import CacheRuntime, build_runtime


@dataclass
class WorkerResources:
    settings: Settings
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _redis: redis.Redis | None = None
    _runtime: CacheRuntime | None = None
    _processor: JobProcessor | None = None

    @property
    def keyspace(self) -> Keyspace:
        return Keyspace(self.settings.key_prefix)

    @property
    def redis(self) -> redis.Redis:
        with self._lock:
            if self._redis is None:
                self._redis = redis.Redis.from_url(self.settings.redis_url)
            return self._redis

    @property
    def runtime(self) -> CacheRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = build_runtime(self.settings)
            return self._runtime

    @property
    def processor(self) -> JobProcessor:
        runtime = self.runtime
        client = self.redis
        with self._lock:
            if self._processor is None:
                self._processor = JobProcessor(
                    runtime.cache,
                    build_providers(self.settings, client),
                    InflightCoordinator(
                        client, self.keyspace, self.settings.workers.inflight_lock_seconds, guard=runtime.guard
                    ),
                    recorder=MetricsRecorder(client, self.keyspace),
                    linter=PromptLintReporter(),
                )
            return self._processor

    def prewarm(self, *, model: bool) -> None:
        """Before the first job: load the model and open the index (`model`), then move every object alive now
        (modules, schemas, the model's tokenizer, the index) out of the garbage collector's sight. They live as long
        as the process, and the collector's full passes over them (~370k objects) cost a warm exact batch line a
        third of its CPU (`bench/worker_cpu.py`: ~90 us of ~250); afterwards a pass scans what jobs allocate."""
        if model:
            self.processor  # noqa: B018
        gc.collect()
        gc.freeze()

    def rollup(self) -> MetricsRollup:
        return MetricsRollup(self.redis, self.keyspace)

    def close(self) -> None:
        with self._lock:
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None
            if self._redis is not None:
                self._redis.close()
                self._redis = None
