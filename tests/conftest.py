"""Shared fixtures. Integration fixtures talk to the real Redis (`LLMCACHE_REDIS_URL`, the documented variable;
redis://127.0.0.1:6379/15 when unset, a database apart from the default 0) under a unique key prefix per test, so a
test never reads or deletes a user's keys, and to the real Qdrant engines: an Edge shard in a temp dir and
qdrant-client's ":memory:" mode.

`SHARED_DATA` is the labelled data beside the repository (`../shared/data`); a fresh clone does not have it, so a
test that reads it uses `needs_shared_data(...)` and skips with the reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llmcache.shared.config import QdrantSettings, Settings, load_settings
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.runtime import CacheRuntime, build_runtime
from llmcache.testing.emulator.server import RunningEmulator

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REDIS_URL = os.environ.get("LLMCACHE_REDIS_URL") or "redis://127.0.0.1:6379/15"


def needs_shared_data(*names: str) -> pytest.MarkDecorator:
    """Skips a test when any of `names` is missing from ../shared/data (a clone of the repository alone)."""
    missing = [name for name in names if not (SHARED_DATA / name).exists()]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"needs {', '.join(missing)} from the labelled data in {SHARED_DATA} (../shared/data), "
        "which is not part of the repository",
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - the CI script starts Redis first
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}")
    finally:
        client.close()
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of the test's own on a free port, in a temp dir, that the test may stop and restart (never the
    shared Redis). No persistence: a restart forgets every key, as a failed-over or wiped Redis would."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.folder}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)  # polling for the server to listen, bounded by the deadline
        finally:
            client.close()
        raise TimeoutError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on PATH to run a private Redis that the test can stop and restart")
    server = PrivateRedis(tmp_path_factory.mktemp("private-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    from llmcache.shared.embedding.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"llmcache-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["edge", "server"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_settings(engine: str, tmp_path: Path, redis_url: str, key_prefix: str, **overrides: object) -> Settings:
    qdrant = QdrantSettings(location=":memory:", collection=key_prefix) if engine == "server" else QdrantSettings()
    return load_settings(redis_url=redis_url, key_prefix=key_prefix, data_dir=tmp_path, qdrant=qdrant, **overrides)


@pytest.fixture
def runtime(engine: str, tmp_path: Path, redis_url: str, key_prefix: str, embedder: Embedder) -> Iterator[CacheRuntime]:
    built = build_runtime(make_settings(engine, tmp_path, redis_url, key_prefix), embedder=embedder)
    yield built
    built.close()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    from llmcache.testing.emulator.config import EmulatorConfig

    with RunningEmulator(EmulatorConfig(timeout_hang_seconds=2.0)) as running:
        yield running


def emulator_settings(
    emulator: RunningEmulator, redis_url: str, key_prefix: str, **provider_fields: object
) -> Settings:
    """Settings whose providers talk to the emulator (never a real provider)."""
    fields: dict[str, object] = {
        "openai_api_key": "emulator-key",
        "openai_base_url": emulator.openai_base_url,
        "anthropic_api_key": "emulator-key",
        "anthropic_base_url": emulator.anthropic_base_url,
        "retry": {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2},
        **provider_fields,
    }
    return load_settings(redis_url=redis_url, key_prefix=key_prefix, providers=fields)
