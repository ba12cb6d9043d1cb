"""A real cluster for the tests: `llmcache worker` processes started here, real Redis, the provider emulator
(in this process, reached over loopback HTTP by the workers' SDK clients)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from llmcache.shared.config import Settings, load_settings
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from llmcache.workers.producer import LLMCacheClient

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    settings: Settings
    env: dict[str, str]
    client: LLMCacheClient
    emulator: RunningEmulator
    data_dir: Path
    logs: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, *command: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "llmcache.workers.cli", *command], env=self.env, stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def wait_for_workers(self, count: int = 1, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a cluster process exited with {process.returncode}; see {self.logs}")
            replies = self.client.app.control.ping(timeout=1.0)
            if len(replies) >= count:
                return
        raise TimeoutError(f"{count} worker(s) did not answer a ping within {timeout}s; see {self.logs}")

    def provider_calls(self, model: str | None = None) -> int:
        stats = self.emulator.stats()
        if model is None:
            return sum(int(row.get("calls", 0)) for name, row in stats["by_model"].items() if "embedding" not in name)
        return int(stats["by_model"].get(model, {}).get("calls", 0))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def cluster_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMCACHE_") and k not in ("QDRANT_URL",)}
    env.update(settings_env)
    env["PYTHONPATH"] = str(ROOT)
    return env


def settings_from(settings_env: dict[str, str]) -> Settings:
    """The settings a worker started with `settings_env` reads, loaded here without leaving the variables set."""
    saved = {k: os.environ.get(k) for k in settings_env}
    os.environ.update(settings_env)
    try:
        return load_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def delete_prefix(redis_url: str, prefix: str) -> None:
    with contextlib.suppress(redis.RedisError):
        connection = redis.Redis.from_url(redis_url)
        keys = list(connection.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            connection.delete(*keys[start : start + 1000])
        connection.close()


@contextlib.contextmanager
def running_cluster(
    redis_url: str,
    emulator: RunningEmulator,
    data_dir: Path,
    *,
    label: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """One `llmcache worker` process (queues llm and maintenance) on `redis_url` under a key prefix of its own,
    removed afterwards, answered by `emulator` (which the caller owns and stops)."""
    prefix = f"llmcache-{label}-{uuid.uuid4().hex[:10]}"
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    settings_env = {
        "LLMCACHE_REDIS_URL": redis_url,
        "LLMCACHE_KEY_PREFIX": prefix,
        "LLMCACHE_DATA_DIR": str(data_dir / "data"),
        "LLMCACHE_PROVIDERS__OPENAI_API_KEY": "emulator-key",
        "LLMCACHE_PROVIDERS__OPENAI_BASE_URL": emulator.openai_base_url,
        "LLMCACHE_PROVIDERS__ANTHROPIC_API_KEY": "emulator-key",
        "LLMCACHE_PROVIDERS__ANTHROPIC_BASE_URL": emulator.anthropic_base_url,
        **(extra_env or {}),
    }
    settings = settings_from(settings_env)
    client = LLMCacheClient(settings)
    running = Cluster(settings, cluster_env(settings_env), client, emulator, data_dir, logs, [])
    running.start("worker", "--queues", "llm,maintenance", name="worker")
    try:
        running.wait_for_workers()
        yield running
    finally:
        running.stop()
        client.close()
        delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=400))
    extra_env = {
        "LLMCACHE_WORKERS__CONCURRENCY": "24",
        # "para" tests coalescing mechanics on near-verbatim paraphrases: cosine only, no false-hit guard
        "LLMCACHE_NAMESPACES__PARA__SIMILARITY_THRESHOLD": "0.85",
        "LLMCACHE_NAMESPACES__PARA__GUARD": "false",
        "LLMCACHE_NAMESPACES__SHORT__TTL_SECONDS": "1",
    }
    try:
        with running_cluster(
            redis_url, emulator, tmp_path_factory.mktemp("cluster"), label="cluster", extra_env=extra_env
        ) as running:
            yield running
    finally:
        emulator.stop()
