"""Real `llmcache worker` processes: one process owns the embedded Qdrant Edge shard (a second refuses to start,
before `ready`, and says how to scale out), and a worker's log lines keep their real level, with at most one info
line per job and never the answer text at info level."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from llmcache.shared.jobs import Job, Outcome
from llmcache.shared.models import CacheRequest
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from tests.cluster.conftest import Cluster, running_cluster


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    """One worker on an embedded shard; the emulator answers after 3 s so that a twin job meets its leader."""
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=3000))
    try:
        with running_cluster(
            redis_url,
            emulator,
            tmp_path_factory.mktemp("owner"),
            label="owner",
            extra_env={"LLMCACHE_WORKERS__CONCURRENCY": "4"},
        ) as running:
            yield running
    finally:
        emulator.stop()


def request(text: str) -> CacheRequest:
    return CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": text}],
            "params": {"max_tokens": 120},
            "namespace": "faq",
            "scope": {"tenant": uuid.uuid4().hex[:8]},
        }
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_second_worker_on_the_same_embedded_shard_refuses_to_start(node: Cluster) -> None:
    second = node.start("worker", "--queues", "llm,maintenance", name="second-worker")
    node.processes.remove(second)
    try:
        code = second.wait(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
    text = (node.logs / "second-worker.log").read_text()
    assert code == 2, text
    assert "already owned by another process" in text and "QDRANT_URL" in text
    assert " ready." not in text and "WAL" not in text  # refused before Celery started
    served = node.client.submit(Job(request=request("Is the first worker still serving?"))).result(timeout=120)
    assert served.outcome is Outcome.MISS  # the owner is untouched


def test_worker_log_lines_keep_their_level_and_never_show_the_answer_at_info(node: Cluster) -> None:
    leader = Job(request=request("How do I set up single sign-on for my team?"))
    twin = Job(request=leader.request)
    connection = redis.Redis.from_url(node.settings.redis_url)
    first = node.client.submit(leader)
    deadline = time.monotonic() + 120
    while not list(connection.scan_iter(match=f"{node.settings.key_prefix}:inflight:*")):
        assert time.monotonic() < deadline, "the leader never claimed its request"
        time.sleep(0.05)  # polling another process's state, bounded by the deadline
    second = node.client.submit(twin)  # the leader is calling the provider (3 s): the twin defers to it
    answered, coalesced = first.result(timeout=120), second.result(timeout=120)
    assert answered.outcome is Outcome.MISS and answered.completion is not None
    assert coalesced.outcome is Outcome.COALESCED  # so the worker did log `job_deferred`, at debug level
    answer_text = answered.completion.text
    assert answer_text

    log_text = (node.logs / "worker.log").read_text()
    records = json_lines(log_text)
    levels = {record["level"] for record in records}
    assert levels <= {"info", "warning", "error", "critical"}, levels  # the worker runs at INFO: no debug line
    assert not [r for r in records if r["event"] == "job_deferred"]
    done = [r for r in records if r["event"] == "job_done" and r.get("job_id") in (leader.job_id, twin.job_id)]
    assert sorted(r["cache_outcome"] for r in done) == ["coalesced", "miss"]
    assert {r["level"] for r in done} == {"info"}  # not WARNING, as Celery's stdout redirect made it
    ready = [r for r in records if str(r["event"]).endswith(" ready.")]
    assert ready and ready[0]["level"] == "info" and ready[0]["logger"].startswith("celery")
    info = [r for r in records if r["level"] == "info"]
    assert not [r for r in info if str(r.get("logger", "")).startswith("httpx")]  # the SDKs' per-request lines
    for job in (leader, twin):  # at most one info line per job: Celery's received/succeeded/retry lines are quiet
        assert len([r for r in info if job.job_id in json.dumps(r)]) == 1
    assert answer_text not in log_text  # the answer is never logged at info (nor at any level here)
