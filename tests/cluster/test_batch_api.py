"""`llmcache batch run --via batch-api` against real workers (real Redis, the real embedder and index), the real
SDKs and the provider emulator's Batch APIs (an emulator, not a real provider): hits from the cache, only the
distinct misses in one provider batch per provider, resume of a stopped run without a second batch, partial expiry
and per-request errors with `--retry-errors`, and dollars that agree with the emulator's own accounting."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from llmcache.shared.config import RetrySettings
from llmcache.shared.models import CacheRequest
from llmcache.shared.providers.base import CallPolicy
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.pricing import PricingTable
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from llmcache.workers.via_batch_api import state_path
from tests.cluster.conftest import ROOT, Cluster, running_cluster

SYSTEM = "You are the support assistant of Acme Cloud. Answer in two sentences."
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    """One worker; namespace `bulk` is exact-only (no embedding: the 5,000-line test stays fast), `default` keeps
    semantic matching and the guard."""
    emulator = RunningEmulator(EmulatorConfig())
    try:
        with running_cluster(
            redis_url,
            emulator,
            tmp_path_factory.mktemp("batch-api"),
            label="batchapi",
            extra_env={"LLMCACHE_NAMESPACES__BULK__SEMANTIC": "false"},
        ) as running:
            yield running
    finally:
        emulator.stop()


@pytest.fixture(autouse=True)
def fresh_emulator(cluster: Cluster) -> Iterator[None]:
    cluster.emulator.reset()
    cluster.emulator.configure(batch_hold=False, batch_expire_fraction=0.0, batch_request_faults={})
    yield
    cluster.emulator.configure(batch_hold=False, batch_expire_fraction=0.0, batch_request_faults={})


def openai_line(custom_id: str, text: str, tenant: str, namespace: str = "bulk") -> str:
    body = {
        "model": OPENAI_MODEL,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "max_tokens": 120,
    }
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": body,
            "llmcache": {"namespace": namespace, "tenant": tenant},
        }
    )


def anthropic_line(custom_id: str, text: str, tenant: str, namespace: str = "bulk") -> str:
    params = {
        "model": ANTHROPIC_MODEL,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 120,
    }
    return json.dumps(
        {"custom_id": custom_id, "params": params, "llmcache": {"namespace": namespace, "tenant": tenant}}
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmcache.workers.cli", "batch", *args]


def run_cli(cluster: Cluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command(*args), env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def via(cluster: Cluster, source: Path, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(cluster, "run", str(source), "-o", str(output), "--via", "batch-api", "--poll-max-seconds", "0.2",
                   "--no-progress", *extra)  # fmt: skip


def rows(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for text in path.read_text().splitlines():
        row = json.loads(text)
        assert row["custom_id"] not in out, f"custom_id {row['custom_id']} written twice"
        out[row["custom_id"]] = row
    return out


def batches(cluster: Cluster, provider: str) -> list[dict[str, Any]]:
    return [b for b in cluster.emulator.stats()["batches"] if b["provider"] == provider]


DOLLARS = re.compile(
    r"no cache \(sync\) \$([\d.]+) \| with cache \(sync\) \$([\d.]+) \| with cache \+ batch \$([\d.]+)"
)


def dollars(done: subprocess.CompletedProcess[str]) -> tuple[float, float, float]:
    found = DOLLARS.search(done.stdout)
    assert found is not None, done.stdout
    return float(found[1]), float(found[2]), float(found[3])


def test_5000_lines_one_provider_batch_per_provider_of_the_distinct_misses(cluster: Cluster, tmp_path: Path) -> None:
    tenant = uuid.uuid4().hex[:8]
    warm_questions = [f"How do I configure feature {i} of the dashboard?" for i in range(100)]
    new_questions = [f"What does error code {i} mean in the billing export?" for i in range(600)]
    # 100 questions answered by an earlier run (so in the cache), then a file that repeats them among new ones
    warm_file = write(tmp_path / "warm.jsonl", [openai_line(f"w{i}", q, tenant) for i, q in enumerate(warm_questions)])
    via(cluster, warm_file, tmp_path / "warm.out.jsonl")
    cluster.emulator.reset()
    questions = warm_questions + new_questions
    openai_lines = [openai_line(f"o{i}", questions[(i * 13) % len(questions)], tenant) for i in range(4000)]
    anthropic_questions = [f"How long is invoice {i} kept?" for i in range(150)]
    anthropic_lines = [anthropic_line(f"a{i}", anthropic_questions[i % 150], tenant) for i in range(1000)]
    out_openai, out_anthropic = tmp_path / "openai.out.jsonl", tmp_path / "anthropic.out.jsonl"
    via(cluster, write(tmp_path / "openai.jsonl", openai_lines), out_openai)
    via(cluster, write(tmp_path / "anthropic.jsonl", anthropic_lines), out_anthropic)

    got_openai, got_anthropic = rows(out_openai), rows(out_anthropic)
    assert set(got_openai) == {f"o{i}" for i in range(4000)}
    assert set(got_anthropic) == {f"a{i}" for i in range(1000)}
    # one provider batch per provider, holding only the distinct misses
    assert [b["requests"] for b in batches(cluster, "openai")] == [len(new_questions)]
    assert [b["requests"] for b in batches(cluster, "anthropic")] == [len(anthropic_questions)]
    assert cluster.emulator.stats()["by_model"][OPENAI_MODEL]["batch_requests"] == len(new_questions)
    warm = set(warm_questions)
    for index in range(4000):
        row = got_openai[f"o{index}"]
        meta = row["llmcache"]
        assert row["response"]["status_code"] == 200, row
        if questions[(index * 13) % len(questions)] in warm:
            assert meta["provider_called"] is False and meta["outcome"] == "exact", row
    called = [r for r in got_openai.values() if r["llmcache"]["provider_called"]]
    assert len(called) == len(new_questions)
    assert {r["llmcache"]["outcome"] for r in got_openai.values()} == {"exact", "miss", "coalesced"}
    assert all(r["result"]["type"] == "succeeded" for r in got_anthropic.values())
    # a second run of the same file: every line already done, no new provider batch
    via(cluster, tmp_path / "openai.jsonl", out_openai)
    assert len(batches(cluster, "openai")) == 1


def test_stopped_while_in_progress_and_restarted_submits_no_second_batch(cluster: Cluster, tmp_path: Path) -> None:
    tenant = uuid.uuid4().hex[:8]
    source = write(tmp_path / "in.jsonl", [anthropic_line(f"r{i}", f"Where is setting {i % 30}?", tenant)
                                           for i in range(90)])  # fmt: skip
    output = tmp_path / "out.jsonl"
    cluster.emulator.configure(batch_hold=True)  # the batch stays in_progress until released
    args = ("run", str(source), "-o", str(output), "--via", "batch-api", "--poll-max-seconds", "0.2", "--no-progress")
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command(*args), env=cluster.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not (state_path(output).exists() and batches(cluster, "anthropic")):
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the run never submitted its batch"
            time.sleep(0.1)
        recorded = json.loads(state_path(output).read_text())["jobs"]
        assert len(recorded) == 1 and recorded[0]["collected"] is False
        status = run_cli(cluster, "status", str(output))
        assert "in_progress" in status.stdout and recorded[0]["job"]["batch_id"] in status.stdout
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    second = subprocess.Popen(command(*args), env=cluster.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    cluster.emulator.release_batches()
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stdout + stderr
    assert "picked up 1" in stdout
    assert [b["requests"] for b in batches(cluster, "anthropic")] == [30]  # no second batch
    got = rows(output)
    assert set(got) == {f"r{i}" for i in range(90)}
    assert all(r["result"]["type"] == "succeeded" for r in got.values())


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_half_expired_batch_and_request_errors_then_retry_errors(cluster: Cluster, tmp_path: Path, fmt: str) -> None:
    tenant = uuid.uuid4().hex[:8]
    make = openai_line if fmt == "openai" else anthropic_line
    questions = [f"Question number {i} about quotas" for i in range(40)]
    source = write(tmp_path / "in.jsonl", [make(f"e{i}", q, tenant) for i, q in enumerate(questions)])
    output = tmp_path / "out.jsonl"
    faults = {questions[3].lower(): "500", questions[5].lower(): "400"}
    cluster.emulator.configure(batch_expire_fraction=0.5, batch_request_faults=faults)
    via(cluster, source, output)
    got = rows(output)
    assert len(got) == 40
    failed = {cid for cid, r in got.items() if r["llmcache"]["outcome"] == "error"}
    expired = {f"e{i}" for i in range(20, 40)}  # the batch ran out of time after the first half
    assert failed == expired | {"e3", "e5"}
    retryable = {cid for cid in failed if got[cid]["llmcache"]["retryable"]}
    assert retryable == expired | {"e3"}  # a 500 can pass on a retry, a 400 cannot
    if fmt == "openai":
        assert got["e3"]["response"]["status_code"] == 500 and got["e5"]["response"]["status_code"] == 400
        assert got["e30"]["error"]["code"] == "batch_expired"
    else:
        assert got["e3"]["result"]["type"] == "errored" and got["e5"]["result"]["type"] == "errored"
        assert got["e3"]["result"]["error"]["error"]["type"] == "api_error"
        assert got["e30"]["result"] == {"type": "expired"}

    cluster.emulator.configure(batch_expire_fraction=0.0, batch_request_faults={})
    via(cluster, source, output, "--retry-errors")
    assert [b["requests"] for b in batches(cluster, fmt)] == [40, len(retryable)]  # only the retryable ones again
    again = rows(output)
    assert {cid for cid, r in again.items() if r["llmcache"]["outcome"] == "error"} == {"e5"}
    assert len(again) == 40


def test_dollars_agree_with_the_emulator(cluster: Cluster, tmp_path: Path) -> None:
    tenant = uuid.uuid4().hex[:8]
    questions = [f"Can I export report {i} as CSV?" for i in range(20)]
    lines = [openai_line(f"d{i}", questions[i % 20], tenant, namespace="bulk") for i in range(60)]
    done = via(cluster, write(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl")
    no_cache_sync, cache_sync, cache_batch = dollars(done)
    stats = cluster.emulator.stats()
    assert cache_batch == pytest.approx(stats["usd_batch"], rel=1e-6, abs=1e-8)
    assert cache_batch == pytest.approx(cache_sync / 2, rel=1e-6)
    # the same requests sent synchronously (fresh emulator, through the SDK): what the sync totals claim
    cluster.emulator.reset()
    client = openai.OpenAI(api_key="emulator-key", base_url=cluster.emulator.openai_base_url, max_retries=0)
    provider = OpenAIProvider(client, CallPolicy(PricingTable.load(), RetrySettings()))
    requests = [
        CacheRequest(provider="openai", model=OPENAI_MODEL, system=SYSTEM,
                     messages=[{"role": "user", "content": questions[i % 20]}], params={"max_tokens": 120})
        for i in range(60)
    ]  # fmt: skip
    for request in requests[:20]:
        provider.complete(request)
    assert cache_sync == pytest.approx(cluster.emulator.stats()["usd_total"], rel=1e-6, abs=1e-8)
    for request in requests[20:]:
        provider.complete(request)
    assert no_cache_sync == pytest.approx(cluster.emulator.stats()["usd_total"], rel=1e-6, abs=1e-8)


def test_resume_after_an_edit_runs_only_the_changed_line(cluster: Cluster, tmp_path: Path) -> None:
    tenant = uuid.uuid4().hex[:8]
    lines = [openai_line(f"x{i}", f"Which region hosts backup {i}?", tenant) for i in range(20)]
    source, output = write(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    via(cluster, source, output)
    lines[7] = openai_line("x7", "Which region hosts the audit archive?", tenant)  # same custom_id, new question
    write(source, lines)
    done = via(cluster, source, output)
    assert "19 already done" in done.stdout
    assert [b["requests"] for b in batches(cluster, "openai")] == [20, 1]
    got = rows(output)
    assert len(got) == 20 and got["x7"]["llmcache"]["provider_called"] is True
    assert got["x7"]["response"]["status_code"] == 200
