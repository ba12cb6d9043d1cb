"""Backend failures leave the core as `BackendError`, naming the backend and what it was doing: a Redis URL with
nothing listening, closed Qdrant indexes (Edge and server adapter). Provider errors stay provider errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import redis
from qdrant_client import QdrantClient

from llmcache.shared.coalesce import InflightCoordinator
from llmcache.shared.config import RateLimit
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.entry_store import EntryStore, VersionRegistry
from llmcache.shared.errors import BackendError, RetryableProviderError, wraps_backend_errors
from llmcache.shared.index.base import PointSelector
from llmcache.shared.index.edge import EdgeVectorIndex
from llmcache.shared.index.server import ServerVectorIndex
from llmcache.shared.jobs import Job, JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.models import CacheRequest
from llmcache.shared.pipeline import JobProcessor
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.ratelimit import SharedRateLimiter
from llmcache.shared.redis_keys import Keyspace
from llmcache.shared.runtime import build_runtime
from tests.conftest import free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]
REQUEST = CacheRequest.model_validate(
    {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "How do I reset my password?"}],
        "namespace": "faq",
        "scope": {"tenant": "acme"},
    }
)


@pytest.fixture
def dead_redis() -> redis.Redis:
    """A real client for a port where nothing listens."""
    return redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=2)


def test_entry_store_and_versions_wrap_redis_errors(dead_redis: redis.Redis) -> None:
    store = EntryStore(dead_redis, Keyspace("llmcache-test-dead"))
    with pytest.raises(BackendError, match=r"redis failed in EntryStore\.get_many") as raised:
        store.get_many(["a", "b"])
    assert raised.value.backend == "redis"
    assert raised.value.operation == "EntryStore.get_many"
    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    with pytest.raises(BackendError, match=r"EntryStore\.iter_entries"):  # a generator: wrapped while it iterates
        list(store.iter_entries("faq"))
    with pytest.raises(BackendError, match=r"VersionRegistry\.current"):
        VersionRegistry(dead_redis, Keyspace("llmcache-test-dead")).current("faq", "1")


def test_coalescer_wraps_redis_errors(dead_redis: redis.Redis) -> None:
    coordinator = InflightCoordinator(dead_redis, Keyspace("llmcache-test-dead"), lock_seconds=5)
    with pytest.raises(BackendError, match=r"redis failed in InflightCoordinator\.claim"):
        coordinator.claim("k" * 64, None, None, None)


def test_the_shared_rate_limit_wraps_redis_errors(dead_redis: redis.Redis) -> None:
    limiter = SharedRateLimiter(dead_redis, Keyspace("llmcache-test-dead"))
    with pytest.raises(BackendError, match=r"redis failed in SharedRateLimiter\.try_acquire"):
        limiter.acquire("openai", "gpt-4o-mini", RateLimit(requests_per_minute=60, tokens_per_minute=0), tokens=10)


def test_a_lookup_on_a_dead_redis_is_a_backend_error(
    tmp_path: Path, key_prefix: str, redis_url: str, embedder: Embedder
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    runtime = build_runtime(make_settings("server", tmp_path, dead, key_prefix), embedder=embedder)
    try:
        with pytest.raises(BackendError, match=r"redis failed in VersionRegistry\.current"):
            runtime.cache.lookup(REQUEST)
    finally:
        runtime.close()


def test_a_job_on_a_dead_redis_is_a_retryable_backend_error_result(
    tmp_path: Path, key_prefix: str, embedder: Embedder
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings("server", tmp_path, dead, key_prefix)
    runtime = build_runtime(settings, embedder=embedder)
    client = redis.Redis.from_url(dead, socket_connect_timeout=2)
    processor = JobProcessor(
        runtime.cache,
        build_providers(settings, client),
        InflightCoordinator(client, Keyspace(key_prefix), lock_seconds=5),
        recorder=MetricsRecorder(client, Keyspace(key_prefix)),
    )
    try:
        result = processor.process(Job(request=REQUEST))
    finally:
        runtime.close()
    assert isinstance(result, JobResult) and result.outcome is Outcome.ERROR and result.error is not None
    assert result.error.type == "BackendError" and result.error.retryable
    assert "redis failed in VersionRegistry.current" in result.error.message


def test_a_closed_edge_index_is_a_backend_error(tmp_path: Path) -> None:
    index = EdgeVectorIndex(tmp_path / "shard", dimension=4)
    index.ensure_ready()
    index.close()
    with pytest.raises(BackendError, match="is closed") as raised:
        index.count()
    assert raised.value.backend == "qdrant"
    with pytest.raises(ValueError, match="at least one condition"):  # a caller's mistake stays what it is
        EdgeVectorIndex(tmp_path / "other", dimension=4).delete_where(PointSelector())


def test_edge_engine_errors_are_backend_errors(tmp_path: Path) -> None:
    index = EdgeVectorIndex(tmp_path / "shard", dimension=4)
    try:
        with pytest.raises(BackendError, match=r"qdrant failed in EdgeVectorIndex\.search") as raised:
            index.search(np.ones(3, dtype=np.float32), PointSelector(namespace="faq"), 0.5, 1)  # wrong dimension
        assert raised.value.__cause__ is not None
    finally:
        index.close()


def test_a_closed_server_index_is_a_backend_error(key_prefix: str) -> None:
    index = ServerVectorIndex(QdrantClient(location=":memory:"), key_prefix, 4)
    index.ensure_ready()
    index.close()
    with pytest.raises(BackendError, match=r"qdrant failed in ServerVectorIndex\.count"):
        index.count()


def test_a_cache_with_a_closed_index_raises_backend_error(
    tmp_path: Path, key_prefix: str, redis_url: str, embedder: Embedder
) -> None:
    runtime = build_runtime(make_settings("edge", tmp_path, redis_url, key_prefix), embedder=embedder)
    runtime.index.close()
    try:
        with pytest.raises(BackendError, match=r"qdrant: the Edge index at .* is closed") as raised:
            runtime.cache.lookup(REQUEST)
        assert raised.value.backend == "qdrant"
    finally:
        runtime.close()


def test_provider_errors_pass_through_unchanged() -> None:
    @wraps_backend_errors("redis", (Exception,))
    def call() -> None:
        raise RetryableProviderError("openai", "overloaded", status=529)

    with pytest.raises(RetryableProviderError, match="529"):
        call()


def test_a_second_process_cannot_open_an_owned_edge_shard(tmp_path: Path) -> None:
    owner = EdgeVectorIndex(tmp_path / "shard", dimension=4)
    owner.ensure_ready()
    try:
        probe = (
            "import sys; from pathlib import Path; from llmcache.shared.index.edge import EdgeVectorIndex\n"
            "from llmcache.shared.errors import ShardInUseError\n"
            "try:\n    EdgeVectorIndex(Path(sys.argv[1]), dimension=4).ensure_ready()\n"
            "except ShardInUseError as error:\n    print(error); sys.exit(7)\n"
        )
        second = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "shard")],
            check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert second.returncode == 7, second.stderr
        assert "already owned by another process" in second.stdout and "QDRANT_URL" in second.stdout
    finally:
        owner.close()
    again = EdgeVectorIndex(tmp_path / "shard", dimension=4)  # released on close: the next owner opens it
    again.ensure_ready()
    again.close()
