"""What the batch-run cluster tests share: a cluster of real `llmcache worker` processes on a Redis and an
emulator of the test's choosing, batch files of the tests' own making, and the `batch run` command."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from llmcache.shared.config import load_settings
from llmcache.testing.emulator.server import RunningEmulator
from llmcache.workers.producer import LLMCacheClient
from tests.cluster.conftest import ROOT, Cluster, cluster_env

SYSTEM = "You are the support assistant of Acme Cloud. Answer in two sentences."


@contextlib.contextmanager
def batch_cluster(
    redis_url: str, emulator: RunningEmulator, data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """One worker (24 threads) and a key prefix of its own, removed afterwards."""
    prefix = f"llmcache-batch-{uuid.uuid4().hex[:10]}"
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
        "LLMCACHE_WORKERS__CONCURRENCY": "24",
        "LLMCACHE_BATCH__ANSWER_CONCURRENCY": "32",
        # "para": near-verbatim paraphrases collapse on cosine alone (no false-hit guard), for the dedupe mechanics
        "LLMCACHE_NAMESPACES__PARA__SIMILARITY_THRESHOLD": "0.85",
        "LLMCACHE_NAMESPACES__PARA__GUARD": "false",
        **(extra_env or {}),
    }
    env = cluster_env(settings_env)
    saved = {k: os.environ.get(k) for k in settings_env}
    os.environ.update(settings_env)
    try:
        settings = load_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    client = LLMCacheClient(settings)
    running = Cluster(settings, env, client, emulator, data_dir, logs, [])
    running.start("worker", "--queues", "llm,maintenance", name="worker")
    try:
        running.wait_for_workers()
        yield running
    finally:
        running.stop()
        client.close()
        with contextlib.suppress(redis.RedisError):
            connection = redis.Redis.from_url(redis_url)
            keys = list(connection.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                connection.delete(*keys[start : start + 1000])
            connection.close()


def openai_line(
    custom_id: str,
    text: str,
    model: str,
    *,
    tenant: str,
    namespace: str = "default",
    system: str = SYSTEM,
    body: dict[str, object] | None = None,
) -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": model,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": text}],
                "max_tokens": 200,
                **(body or {}),
            },
            "llmcache": {"namespace": namespace, "tenant": tenant},
        }
    )


def batch_command(cluster: Cluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "llmcache.workers.cli", "batch", "run", *args, "--no-progress"]


def run_cli(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(cluster, *args), env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_custom_id(path: Path) -> dict[str, dict[str, Any]]:
    found = rows(path)
    ids = [row["custom_id"] for row in found]
    assert len(ids) == len(set(ids)), "a custom_id appears twice in the output"
    return {row["custom_id"]: row for row in found}


def answer_text(row: dict[str, Any]) -> str:
    return str(row["response"]["body"]["choices"][0]["message"]["content"])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def lines_in(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.endswith("}"))
