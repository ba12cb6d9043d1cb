"""`llmcache batch run` through provider faults and a Redis restart, against real worker processes and the provider
emulator (an emulator, not a real provider). Redis is restarted only as a private redis-server of the test's own."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from tests.cluster.batch_helpers import (
    batch_cluster,
    batch_command,
    by_custom_id,
    lines_in,
    openai_line,
    run_cli,
    wait_until,
)
from tests.cluster.conftest import ROOT
from tests.conftest import PrivateRedis

# exact-only: these tests are about faults, not similarity (and skip the embedding)
EXACT_ONLY = {"LLMCACHE_NAMESPACES__EXACT__SEMANTIC": "false"}
FAULTS = {"429": 0.04, "500": 0.04, "529": 0.04, "timeout": 0.04, "malformed": 0.04}  # 20% of attempts


def test_provider_faults_at_twenty_percent(tmp_path: Path, redis_url: str) -> None:
    """Every line is answered or is a retryable error line once its retries ran out; `--retry-errors` (with the
    faults gone) answers those, without asking again for any answer already stored."""
    emulator = RunningEmulator(
        EmulatorConfig(
            time_to_first_token_ms=20, fault_rates=FAULTS, fault_seed=11, retry_after_seconds=0.2,
            timeout_hang_seconds=3.0,
        )
    )  # fmt: skip
    env = {
        **EXACT_ONLY,
        "LLMCACHE_PROVIDERS__TIMEOUT_SECONDS": "1.0",
        "LLMCACHE_PROVIDERS__RETRY__MAX_ATTEMPTS": "2",
        "LLMCACHE_PROVIDERS__RETRY__BACKOFF_INITIAL_SECONDS": "0.05",
        "LLMCACHE_PROVIDERS__RETRY__BACKOFF_MAX_SECONDS": "0.2",
    }
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    source = tmp_path / "faults.jsonl"
    source.write_text(
        "".join(
            openai_line(f"f{i}", f"Ticket {i}: please summarise case {i * 31}", model, tenant=tenant,
                        namespace="exact") + "\n"
            for i in range(300)
        )
    )  # fmt: skip
    output = tmp_path / "out.jsonl"
    try:
        with batch_cluster(redis_url, emulator, tmp_path / "cluster", env) as cluster:
            first = run_cli(cluster, str(source), "-o", str(output))
            assert first.returncode == 0, first.stderr
            rows = by_custom_id(output)
            assert sorted(rows, key=lambda c: int(c[1:])) == [f"f{i}" for i in range(300)]
            failed = {c: r for c, r in rows.items() if r["llmcache"]["outcome"] == "error"}
            assert failed, "20% faults with 2 attempts each left no line failed"
            assert all(r["llmcache"]["retryable"] is True for r in failed.values())
            with_status = [r for r in failed.values() if r["response"] is not None]
            assert all(r["error"] is None and r["response"]["status_code"] in (429, 500, 529) for r in with_status)
            assert all(r["response"]["body"]["error"]["message"] for r in with_status)
            without = [r for r in failed.values() if r["response"] is None]
            assert all(r["error"]["code"] == "provider_unavailable" for r in without)  # timeouts, malformed bodies
            answered = [r for r in rows.values() if r["llmcache"]["outcome"] == "miss"]
            assert len(answered) + len(failed) == 300
            assert all(r["response"]["status_code"] == 200 for r in answered)
            assert f"errors {len(failed)} ({len(failed)} retryable)" in first.stdout
            assert set(emulator.stats()["faults"]) == set(FAULTS)

            emulator.configure(fault_rates={})
            calls_before = cluster.provider_calls(model)
            second = run_cli(cluster, str(source), "-o", str(output), "--retry-errors")
            assert second.returncode == 0, second.stderr
            final = by_custom_id(output)
            assert len(final) == 300
            assert all(r["response"]["status_code"] == 200 for r in final.values())
            assert {c for c, r in final.items() if r["llmcache"]["outcome"] == "miss" and c in failed} == set(failed)
            assert cluster.provider_calls(model) - calls_before == len(failed)  # stored answers were not asked again
            assert f"({300 - len(failed)} already done)" in second.stdout
    finally:
        emulator.stop()


def test_a_redis_restart_mid_batch(tmp_path: Path, private_redis: PrivateRedis) -> None:
    """The private Redis forgets everything (queue, leases, results list, cache): the run still completes, every
    custom_id exactly once."""
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=150))
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    source = tmp_path / "restart.jsonl"
    source.write_text(
        "".join(
            openai_line(f"r{n}", f"Invoice {n % 200}: why was it charged twice?", model, tenant=tenant,
                        namespace="exact") + "\n"
            for n in range(400)
        )
    )  # fmt: skip
    output = tmp_path / "out.jsonl"
    try:
        with batch_cluster(private_redis.url, emulator, tmp_path / "cluster", EXACT_ONLY) as cluster:
            log = (tmp_path / "batch.log").open("w")
            run = subprocess.Popen(
                batch_command(cluster, str(source), "-o", str(output), "--chunk-size", "64"), env=cluster.env,
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                wait_until(lambda: lines_in(output) >= 80, "80 lines written before the restart")
                private_redis.restart()
                run.wait(timeout=150)
            finally:
                if run.poll() is None:
                    run.kill()
                log.close()
            text = (tmp_path / "batch.log").read_text()
            assert run.returncode == 0, text
            rows = by_custom_id(output)
            assert sorted(rows, key=lambda c: int(c[1:])) == [f"r{n}" for n in range(400)]
            assert all(r["response"]["status_code"] == 200 for r in rows.values()), text
            assert "Redis unreachable" in text and "Redis is back" in text
    finally:
        emulator.stop()
