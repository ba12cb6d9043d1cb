"""Beat survives a Redis restart: on a private redis-server (never the shared one) that the test restarts while two
`llmcache beat` processes run, the leader stops scheduling when its lock is gone, reconnects, and one beat (never two)
schedules again once Redis is back, its tasks reaching the broker queue of the restarted Redis."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from llmcache.shared.redis_keys import Keyspace
from tests.cluster.conftest import ROOT, cluster_env
from tests.conftest import PrivateRedis


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # polling a state change in another process, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what}")


def test_beat_keeps_scheduling_after_a_redis_restart(private_redis: PrivateRedis, tmp_path: Path) -> None:
    prefix = f"llmcache-beat-{uuid.uuid4().hex[:10]}"
    keys = Keyspace(prefix)
    env = cluster_env(
        {
            "LLMCACHE_REDIS_URL": private_redis.url,
            "LLMCACHE_KEY_PREFIX": prefix,
            "LLMCACHE_DATA_DIR": str(tmp_path / "data"),
            "LLMCACHE_WORKERS__METRICS_ROLLUP_SECONDS": "0.3",
            "LLMCACHE_WORKERS__BEAT_LOCK_SECONDS": "3",
        }
    )
    logs = [(tmp_path / f"beat{i}.log").open("ab") for i in range(2)]
    beats = [
        subprocess.Popen(
            [sys.executable, "-m", "llmcache.workers.cli", "beat"], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        for log in logs
    ]
    client = redis.Redis.from_url(private_redis.url)

    def published() -> dict[str, int]:
        try:
            raw = client.hgetall(keys.beat_published())
        except redis.ConnectionError:
            return {}
        return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}

    def queued_rollups() -> int:  # what beat really sent: messages waiting in the broker's metrics queue
        try:
            return sum(int(client.llen(key)) for key in client.scan_iter(match=f"{prefix}:celery:metrics*"))
        except redis.ConnectionError:
            return 0

    def beat_logs() -> str:
        return "".join((tmp_path / f"beat{i}.log").read_text() for i in range(2))

    try:
        wait_until(lambda: sum(published().values()) >= 5 and queued_rollups() >= 5, "beat to send 5 roll-ups")
        before = published()
        assert len(before) == 1, before  # one leader

        private_redis.stop()
        wait_until(lambda: "beat_redis_unreachable" in beat_logs(), "the beats to notice that Redis is gone")
        assert [beat.poll() for beat in beats] == [None, None], "a beat exited while Redis was down"
        private_redis.start()  # no persistence: the lock, the counts and the queue are forgotten
        assert published() == {} and queued_rollups() == 0

        wait_until(lambda: queued_rollups() >= 5, "beat to send roll-ups to the restarted Redis")
        assert [beat.poll() for beat in beats] == [None, None], "a beat exited on the Redis restart"
        after = published()
        assert len(after) == 1 and sum(after.values()) >= 5, after  # one beat schedules, never two
        holder = client.get(keys.beat_lock())
        assert isinstance(holder, bytes) and holder.decode() in after  # the scheduling beat holds the new lock
    finally:
        for beat in beats:
            if beat.poll() is None:
                beat.terminate()
        for beat in beats:
            try:
                beat.wait(timeout=20)
            except subprocess.TimeoutExpired:
                beat.kill()
        for log in logs:
            log.close()
        client.close()
    assert "beat_lock_lost" in beat_logs()  # the leader stopped scheduling the moment its lock was gone
