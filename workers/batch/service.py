"""The worker side of batch runs, built on a worker's first chunk from its resources (never at import).

Each chunk runs under a lease (see `lease`), checks that its run still exists (a chunk redelivered an hour after
its run ended does nothing), and pushes what it produced on the run's results list, retrying through a Redis
restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import redis
import structlog

from llmcache.shared.answering.base import MissAnswerer
from llmcache.shared.answering.sync_sdk import SyncSDKAnswerer
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.lint import PromptLintReporter
from llmcache.shared.providers.pricing import PricingTable
from llmcache.workers.batch.chunk import ChunkLookup
from llmcache.workers.batch.lease import LeaseKeeper, RunKeys
from llmcache.workers.batch.messages import AnswerChunk, ChunkResult, LookupChunk, unpack_chunk
from llmcache.workers.batch.misses import MissAnswering
from llmcache.workers.batch.settings import BatchSettings
from llmcache.workers.resources import WorkerResources

log = structlog.get_logger("llmcache.batch.worker")
PUSH_RETRY_SECONDS = 60.0
T = TypeVar("T")


@dataclass
class BatchWorker:
    resources: WorkerResources
    batch: BatchSettings = field(default_factory=BatchSettings)
    answerer: MissAnswerer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _lookup: ChunkLookup | None = None
    _answering: MissAnswering | None = None
    _leases: LeaseKeeper | None = None

    def _build(self) -> tuple[ChunkLookup, MissAnswering, LeaseKeeper]:
        with self._lock:
            if self._lookup is None or self._answering is None or self._leases is None:
                settings = self.resources.settings
                runtime = self.resources.runtime
                client = self.resources.redis
                pricing = PricingTable.load(settings.providers.pricing_file)
                recorder = MetricsRecorder(client, self.resources.keyspace)
                namespaces = frozenset(settings.namespaces)
                embedder = (runtime.embedder.model_name, runtime.embedder.dimension)
                self._lookup = ChunkLookup(runtime.cache, namespaces, pricing, recorder, embedder)
                answerer = self.answerer or SyncSDKAnswerer(
                    build_providers(settings, client),
                    concurrency=self.batch.answer_concurrency,
                    linter=PromptLintReporter(),
                )
                self._answering = MissAnswering(
                    runtime.cache, answerer, namespaces, pricing, recorder,
                    store_every=self.batch.store_every, store_every_seconds=self.batch.store_every_seconds,
                )  # fmt: skip
                url = settings.redis_url
                self._leases = LeaseKeeper(
                    lambda: redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5),
                    lease_seconds=self.batch.lease_seconds,
                    heartbeat_seconds=self.batch.heartbeat_seconds,
                )
            return self._lookup, self._answering, self._leases

    def lookup(self, raw: str, worker: str | None = None) -> None:
        lookup, _, leases = self._build()
        chunk = unpack_chunk(raw, LookupChunk)
        keys = RunKeys(chunk.run.key_prefix, chunk.run.run_id)
        with leases.hold(keys.lease(chunk.chunk_id), worker or "worker"):
            if not self._alive(keys):
                log.info("batch_chunk_skipped", chunk_id=chunk.chunk_id, reason="its run is gone")
                return
            self._push(keys, lookup.run(chunk, worker))

    def answer(self, raw: str, worker: str | None = None) -> None:
        _, answering, leases = self._build()
        chunk = unpack_chunk(raw, AnswerChunk)
        keys = RunKeys(chunk.run.key_prefix, chunk.run.run_id)
        with leases.hold(keys.lease(chunk.chunk_id), worker or "worker"):
            if not self._alive(keys):
                log.info("batch_chunk_skipped", chunk_id=chunk.chunk_id, reason="its run is gone")
                return
            answering.run(chunk, lambda result: self._push(keys, result), worker)

    def _alive(self, keys: RunKeys) -> bool:
        return bool(self._retrying(lambda client: client.exists(keys.alive)))

    def _push(self, keys: RunKeys, result: ChunkResult) -> None:
        payload = result.model_dump_json()
        ttl = self.batch.results_ttl_seconds

        def push(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.rpush(keys.results, payload)
            pipe.expire(keys.results, ttl)
            pipe.execute()

        self._retrying(push)

    def _retrying(self, call: Callable[[redis.Redis], T]) -> T:
        """Run `call(redis)`, through a Redis restart (a minute at most; then the lease lapses and the client
        sends the chunk again)."""
        deadline = time.monotonic() + PUSH_RETRY_SECONDS
        while True:
            try:
                return call(self.resources.redis)
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise
                log.warning("batch_redis_retry", error=str(error))
                time.sleep(0.5)
