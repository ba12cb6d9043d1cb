"""Beat (one schedule even with two beats), the effect of each maintenance task, and metrics that match the
emulator's call counts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import redis

from llmcache.scheduler.schedule import build_schedule
from llmcache.shared.jobs import Job, Outcome
from llmcache.shared.models import CacheRequest
from llmcache.shared.redis_keys import Keyspace
from tests.cluster.conftest import ROOT, Cluster, cluster_env


def request(text: str, tenant: str, namespace: str = "faq", model: str = "gpt-4o-mini") -> CacheRequest:
    return CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "params": {"max_tokens": 200},
            "namespace": namespace,
            "scope": {"tenant": tenant},
        }
    )


def wait_until(condition: object, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)  # polling a state change in another process, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


def test_schedule_covers_every_maintenance_task(cluster: Cluster) -> None:
    tasks = {entry.task for entry in build_schedule(cluster.settings).values()}
    assert {"llmcache.maintenance.sweep_expired", "llmcache.maintenance.sweep_stale_versions",
            "llmcache.metrics.rollup"} <= tasks  # fmt: skip
    with_warmup = cluster.settings.model_copy(
        update={"workers": cluster.settings.workers.model_copy(update={"warmup_dir": Path("/tmp")})}
    )
    assert build_schedule(with_warmup)["warm-up"].priority == 9


def test_two_beats_one_schedule_and_failover(cluster: Cluster) -> None:
    client = redis.Redis.from_url(cluster.settings.redis_url)
    keys = Keyspace(cluster.settings.key_prefix)
    fast = {
        "LLMCACHE_WORKERS__METRICS_ROLLUP_SECONDS": "0.3",
        "LLMCACHE_WORKERS__BEAT_LOCK_SECONDS": "3",
        "LLMCACHE_DATA_DIR": str(cluster.data_dir / "beat-data"),
    }
    env = cluster_env({**{k: v for k, v in cluster.env.items() if k.startswith("LLMCACHE_")}, **fast})
    logs = [(cluster.logs / f"beat{i}.log").open("ab") for i in range(2)]
    beats = [
        subprocess.Popen(
            [sys.executable, "-m", "llmcache.workers.cli", "beat"], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        for log in logs
    ]
    try:

        def published() -> dict[str, int]:
            raw = client.hgetall(keys.beat_published())
            return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}

        wait_until(lambda: sum(published().values()) >= 10, what="beat to publish 10 tasks")
        time.sleep(1.0)  # let the standby show it really stays quiet over a few schedule periods
        counts = published()
        assert len(counts) == 1, counts  # exactly one beat scheduled
        leader = next(iter(counts))
        leader_pid = int(leader.rsplit(":", 1)[1])
        leader_process = next(b for b in beats if b.pid == leader_pid)
        leader_process.kill()
        leader_process.wait(timeout=10)
        frozen = published()[leader]
        wait_until(lambda: len(published()) == 2, timeout=30, what="the standby beat to take over")
        assert published()[leader] == frozen
    finally:
        for beat in beats:
            if beat.poll() is None:
                beat.terminate()
                beat.wait(timeout=20)


def test_sweep_expired_removes_points_of_expired_entries(cluster: Cluster) -> None:
    tenant = uuid.uuid4().hex[:8]
    done = cluster.client.submit(Job(request=request("Short-lived answer?", tenant, namespace="short"))).result(60)
    assert done.outcome is Outcome.MISS and done.stored
    body = Keyspace(cluster.settings.key_prefix).entry(done.entry_id or "")
    connection = redis.Redis.from_url(cluster.settings.redis_url)
    wait_until(lambda: not connection.exists(body), timeout=10, what="Redis to expire the 1 s body")
    swept = cluster.client.call("llmcache.maintenance.sweep_expired")
    assert swept["points_deleted"] >= 1
    again = cluster.client.submit(Job(request=request("Short-lived answer?", tenant, namespace="short"))).result(60)
    assert again.outcome is Outcome.MISS


def test_stale_version_sweep_and_invalidate(cluster: Cluster) -> None:
    tenant = uuid.uuid4().hex[:8]
    first = cluster.client.submit(Job(request=request("Versioned question?", tenant, namespace="code"))).result(60)
    assert first.stored
    connection = redis.Redis.from_url(cluster.settings.redis_url)
    connection.set(Keyspace(cluster.settings.key_prefix).current_version("code"), "7")  # a bump seen by everyone
    swept = cluster.client.call("llmcache.maintenance.sweep_stale_versions")
    assert swept["entries_deleted"] >= 1 and swept["points_deleted"] >= 1
    again = cluster.client.submit(Job(request=request("Versioned question?", tenant, namespace="code"))).result(60)
    assert again.outcome is Outcome.MISS and again.stored
    result = cluster.client.call("llmcache.maintenance.invalidate", "code", "8")
    assert result["entries_deleted"] >= 1


def test_warm_up_enqueues_what_is_missing_then_finds_it_fresh(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / "intents"
    folder.mkdir()
    (folder / "news.jsonl").write_text(
        "".join(
            json.dumps({"custom_id": f"w{i}", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"model": model, "messages": [{"role": "user", "content": q}], "max_tokens": 200},
                        "llmcache": {"tenant": "warm"}}) + "\n"
            for i, q in enumerate(["Top story today?", "Market summary?", "Weather outlook?"])
        )
    )  # fmt: skip
    first = cluster.client.call("llmcache.maintenance.warm_up", str(folder))
    assert first == {"enqueued": 3, "refreshing": 0, "fresh": 0, "errors": 0}
    wait_until(lambda: cluster.provider_calls(model) == 3, what="the warm-up jobs to run")
    requests = [
        CacheRequest.model_validate(
            {
                "provider": "openai",
                "model": model,
                "namespace": "news",
                "messages": [{"role": "user", "content": q}],
                "params": {"max_tokens": 200},
                "scope": {"tenant": "warm"},
            }
        )
        for q in ["Top story today?", "Market summary?", "Weather outlook?"]
    ]
    wait_until(
        lambda: all(cluster.client.submit(Job(request=r)).result(60).outcome is Outcome.EXACT for r in requests),
        what="the warmed answers to be stored",
    )
    # news keeps answers 2 h: with a 3 h refresh window every one of them is due for a reseed
    second = cluster.client.call("llmcache.maintenance.warm_up", str(folder))
    assert second["fresh"] + second["refreshing"] == 3 and second["enqueued"] == 0


def test_metrics_match_the_emulators_call_counts(cluster: Cluster) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"  # its own emulator count; its metrics label is "gpt-4o-mini"
    namespace = "pricing"  # no other test of this module (one cluster, one key prefix) uses it: its own group
    tenant = uuid.uuid4().hex[:8]
    texts = [
        "How do I rotate an API key?",
        "Which regions host my data?",
        "How do I rotate an API key?",
        "Can I pay by invoice?",
    ]
    for text in texts:  # one after another: 3 misses and 1 exact hit
        cluster.client.submit(Job(request=request(text, tenant, namespace=namespace, model=model))).result(60)
    stats = subprocess.run(
        [sys.executable, "-m", "llmcache.workers.cli", "stats", "--json"], env=cluster.env, cwd=ROOT,
        capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    totals = json.loads(stats.stdout)["totals"][f"{namespace}|gpt-4o-mini"]
    assert totals["provider_calls"] == cluster.provider_calls(model) == 3
    assert (totals["requests"], totals["miss"], totals["exact"]) == (4, 3, 1)
    emulator_tokens = cluster.emulator.stats()["by_model"][model]
    assert totals["output_tokens"] == emulator_tokens["output_tokens"]
    # the Prometheus endpoint of the metrics worker says the same
    port = _free_port()
    metrics = subprocess.Popen(
        [sys.executable, "-m", "llmcache.workers.cli", "metrics", "--port", str(port)], env=cluster.env, cwd=ROOT,
        stdout=(cluster.logs / "metrics.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        line = f'llmcache_provider_calls_total{{model="gpt-4o-mini",namespace="{namespace}"}} 3.0'
        wait_until(lambda: line in _scrape(port), timeout=60, what="the /metrics endpoint")
        alive = 'llmcache_workers_alive{queues="llm-maintenance"} 1.0'  # the cluster's worker answered the ping
        wait_until(lambda: alive in _scrape(port), timeout=60, what="the worker census")
    finally:
        metrics.terminate()
        metrics.wait(timeout=20)


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
