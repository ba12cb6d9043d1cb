"""What the batch-run cluster tests share: a cluster of real `llmcache worker` processes on a Redis and an
emulator of the test's choosing, batch files of the tests' own making, and the `batch run` command."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmcache.testing.emulator.server import RunningEmulator
from tests.cluster.conftest import ROOT, Cluster, running_cluster

SYSTEM = "You are the support assistant of Acme Cloud. Answer in two sentences."


@contextlib.contextmanager
def batch_cluster(
    redis_url: str, emulator: RunningEmulator, data_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """One worker (24 threads) and a key prefix of its own, removed afterwards."""
    env = {
        "LLMCACHE_WORKERS__CONCURRENCY": "24",
        "LLMCACHE_BATCH__ANSWER_CONCURRENCY": "32",
        # "para": near-verbatim paraphrases collapse on cosine alone (no false-hit guard), for the dedupe mechanics
        "LLMCACHE_NAMESPACES__PARA__SIMILARITY_THRESHOLD": "0.85",
        "LLMCACHE_NAMESPACES__PARA__GUARD": "false",
        **(extra_env or {}),
    }
    with running_cluster(redis_url, emulator, data_dir, label="batch", extra_env=env) as running:
        yield running


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
