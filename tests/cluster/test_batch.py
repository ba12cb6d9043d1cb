"""`llmcache batch run` against a real worker process, real Redis and the provider emulator (an emulator, not a real
provider): formats, duplicates and paraphrases collapsed before any call, poison lines, resume after an edit and
after an interruption, and a worker killed mid-batch."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llmcache.shared.models import CacheEntry
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from tests.cluster.batch_helpers import (
    SYSTEM,
    answer_text,
    batch_cluster,
    batch_command,
    by_custom_id,
    lines_in,
    openai_line,
    rows,
    run_cli,
    wait_until,
)
from tests.cluster.conftest import ROOT, Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Cluster]:
    emulator = RunningEmulator(EmulatorConfig(time_to_first_token_ms=300))
    try:
        with batch_cluster(redis_url, emulator, tmp_path_factory.mktemp("batch")) as running:
            yield running
    finally:
        emulator.stop()


def test_openai_batch_with_duplicates_paraphrases_and_bad_lines(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    lines = [
        openai_line("q1", "How do I reset my password?", model, tenant=tenant, namespace="para"),
        openai_line("q2", "How do I reset my password?", model, tenant=tenant, namespace="para"),  # duplicate
        openai_line("q3", "How can I reset my password?", model, tenant=tenant, namespace="para"),  # paraphrase
        '{"custom_id": "broken", "method": "POST", "url": "/v1/chat/completions", "body": {"model": ',  # malformed
        openai_line("q1", "What is your SLA?", model, tenant=tenant, namespace="para"),  # duplicate custom_id
        json.dumps(
            {
                "custom_id": "no-model",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"messages": [{"role": "user", "content": "hi"}]},
            }
        ),
        openai_line("q4", "Where can I download my invoices?", model, tenant=tenant, namespace="para"),
    ]
    source = tmp_path / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    done = run_cli(cluster, str(source), "-o", str(output))
    assert done.returncode == 0, done.stderr
    by_line = {row["llmcache"]["line"]: row for row in rows(output)}
    assert sorted(by_line) == [1, 2, 3, 4, 5, 6, 7]
    assert by_line[1]["response"]["status_code"] == 200
    assert by_line[1]["response"]["body"]["object"] == "chat.completion"
    assert len({answer_text(by_line[n]) for n in (1, 2, 3)}) == 1  # the duplicate and the paraphrase share it
    outcomes = sorted(by_line[n]["llmcache"]["outcome"] for n in (1, 2, 3))
    assert outcomes == ["coalesced", "coalesced", "miss"]
    assert by_line[4]["error"]["message"].startswith("line 4: not valid JSON") and by_line[4]["custom_id"] is None
    assert by_line[5]["error"]["message"] == "line 5: custom_id 'q1' duplicates line 1"
    assert by_line[6]["error"]["message"].startswith("line 6: body.model") and by_line[6]["custom_id"] == "no-model"
    assert by_line[7]["llmcache"]["outcome"] == "miss"
    assert cluster.provider_calls(model) == 2  # the password question once, the invoices question once
    assert "7 lines" in done.stdout and "errors 3 (0 retryable)" in done.stdout


def test_anthropic_batch_is_detected_and_answered_in_its_format(cluster: Cluster, tmp_path: Path) -> None:
    tenant = uuid.uuid4().hex[:8]
    line = {"custom_id": "a1", "params": {"model": "claude-haiku-4-5", "max_tokens": 200, "system": SYSTEM,
                                          "messages": [{"role": "user", "content": "What is your SLA?"}]},
            "llmcache": {"tenant": tenant}}  # fmt: skip
    missing = {
        "custom_id": "a2",
        "params": {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
    }
    source = tmp_path / "anthropic.jsonl"
    source.write_text(json.dumps(line) + "\n" + json.dumps(missing) + "\n")
    output = tmp_path / "out.jsonl"
    assert run_cli(cluster, str(source), "-o", str(output)).returncode == 0
    found = by_custom_id(output)
    first, second = found["a1"], found["a2"]
    assert first["result"]["type"] == "succeeded"
    assert first["result"]["message"]["type"] == "message" and first["result"]["message"]["content"][0]["text"]
    assert second["result"]["type"] == "errored"
    assert second["result"]["error"]["error"] == {
        "type": "invalid_request_error",
        "message": "line 2: params.max_tokens: an integer is required by Anthropic",
    }


def test_poison_lines_are_error_lines_and_every_other_line_runs(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]

    def line(custom_id: str, text: str = "What is your SLA?", **body: object) -> bytes:
        return openai_line(custom_id, text, model, tenant=tenant, body=body).encode()

    unknown_url = json.loads(line("url"))
    unknown_url["url"] = "/v1/completions"
    empty = json.loads(line("empty"))
    empty["body"]["messages"] = []
    poison: list[bytes] = [
        line("ok-1", "Where can I download my invoices?"),
        line("stream", stream=True),
        json.dumps(unknown_url).encode(),
        json.dumps(empty).encode(),
        line("too-long", "x" * 3000),
        line("utf8").replace(b"SLA", b"SL\xff"),
        line("ok-1", "A duplicate custom_id"),
        openai_line("model", "What is your SLA?", "no-such-model", tenant=tenant).encode(),
        line("headers", extra_headers={"Authorization": "Bearer stolen"}),
        b'{"method": "POST"',
        line("ok-2", "How do I add a team member?"),
    ]
    source = tmp_path / "poison.jsonl"
    source.write_bytes(b"\n".join(poison) + b"\n")
    output = tmp_path / "out.jsonl"
    done = run_cli(cluster, str(source), "-o", str(output), "--max-prompt-chars", "2000")
    assert done.returncode == 0, done.stderr
    found = rows(output)
    assert sorted(row["llmcache"]["line"] for row in found) == list(range(1, 12))  # every line, exactly once
    by_line = {row["llmcache"]["line"]: row for row in found}
    messages = {n: row["error"]["message"] for n, row in by_line.items() if row["error"] is not None}
    assert sorted(messages) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert messages[2].startswith("line 2: body.stream: a batch line cannot stream")
    assert messages[3] == "line 3: url: only /v1/chat/completions is supported, got '/v1/completions'"
    assert messages[4].startswith("line 4: body.messages: List should have at least 1 item")
    assert (
        messages[5].startswith("line 5: body.messages: the prompt is 3,") and "over the limit of 2,000" in messages[5]
    )
    assert messages[6].startswith("line 6: not valid UTF-8 (byte 0xff at offset")
    assert by_line[6]["custom_id"] == "utf8"
    assert messages[7] == "line 7: custom_id 'ok-1' duplicates line 1"
    assert messages[8].startswith("line 8: body.model: model 'no-such-model' is not in the pricing table")
    assert messages[9].startswith("line 9: body.extra_headers: SDK request options cannot be set per line")
    assert messages[10].startswith("line 10: not valid JSON") and by_line[10]["custom_id"] is None
    assert all(by_line[n]["llmcache"]["retryable"] is False for n in messages)
    assert by_line[1]["response"]["status_code"] == 200 and by_line[11]["response"]["status_code"] == 200
    assert cluster.provider_calls(model) == 2  # the two good lines; no poison line reached the provider
    assert "errors 9 (0 retryable)" in done.stdout


def test_fifty_copies_and_fifty_paraphrases_make_one_provider_call(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    question = "How do I reset my password?"
    openers = ["", "Hi, ", "Hello, ", "Hey, ", "Hi there, ", "Hello there, ", "Hey there, ", "Hi all, ", "So, ",
               "Hm, "]  # fmt: skip
    closers = ["", " Thanks!", " Thank you.", " Thanks.", " Please?"]
    paraphrases = [f"{a}{question[0].lower() if a else question[0]}{question[1:]}{b}" for a in openers for b in closers]
    paraphrases = [p for p in paraphrases if p != question]
    paraphrases.append("how do I reset my password")
    assert len(paraphrases) == 50 and len(set(paraphrases)) == 50
    lines = [openai_line(f"copy-{i}", question, model, tenant=tenant, namespace="para") for i in range(50)]
    lines += [openai_line(f"para-{i}", p, model, tenant=tenant, namespace="para") for i, p in enumerate(paraphrases)]
    source = tmp_path / "dedupe.jsonl"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    done = run_cli(cluster, str(source), "-o", str(output))
    assert done.returncode == 0, done.stderr
    found = by_custom_id(output)
    assert len(found) == 100
    assert cluster.provider_calls(model) == 1
    outcomes = [row["llmcache"]["outcome"] for row in found.values()]
    assert outcomes.count("miss") == 1 and outcomes.count("coalesced") == 99
    assert len({answer_text(row) for row in found.values()}) == 1
    leader = next(row for row in found.values() if row["llmcache"]["outcome"] == "miss")
    followers = [row for row in found.values() if row["llmcache"]["outcome"] == "coalesced"]
    assert all(row["llmcache"]["leader"] == leader["custom_id"] for row in followers)
    assert all(row["llmcache"]["saved_usd"] == leader["llmcache"]["cost_usd"] > 0 for row in followers)
    semantic = [row for row in followers if row["custom_id"].startswith("para-")]
    assert all(row["llmcache"]["similarity"] >= 0.85 for row in semantic)
    assert "coalesced 99, miss 1" in done.stdout


def test_resume_after_an_edit_and_an_interrupted_write(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    questions = [f"What does plan {i} cost per seat for {i * 3} seats?" for i in range(8)]
    source = tmp_path / "batch.jsonl"
    source.write_text("".join(openai_line(f"c{i}", q, model, tenant=tenant) + "\n" for i, q in enumerate(questions)))
    output = tmp_path / "out.jsonl"
    assert run_cli(cluster, str(source), "-o", str(output)).returncode == 0
    assert cluster.provider_calls(model) == 8
    first = by_custom_id(output)
    # an interrupted run: c6 and c7 never written, c5 half written
    kept = [line for line in output.read_text().splitlines() if json.loads(line)["custom_id"] not in ("c5", "c6", "c7")]
    half = json.dumps(first["c5"])[:40]
    output.write_text("\n".join(kept) + "\n" + half)
    # and an edit: c2 now asks something else under the same custom_id
    edited = questions.copy()
    edited[2] = "What does the enterprise plan include?"
    source.write_text("".join(openai_line(f"c{i}", q, model, tenant=tenant) + "\n" for i, q in enumerate(edited)))
    done = run_cli(cluster, str(source), "-o", str(output))
    assert done.returncode == 0, done.stderr
    final = by_custom_id(output)
    assert sorted(final) == [f"c{i}" for i in range(8)]
    assert "(4 already done)" in done.stdout  # c0, c1, c3, c4
    assert cluster.provider_calls(model) == 9  # only the edited line was asked again
    assert final["c2"]["llmcache"]["outcome"] == "miss" and answer_text(final["c2"]) != answer_text(first["c2"])
    assert {final[c]["llmcache"]["outcome"] for c in ("c5", "c6", "c7")} == {"exact"}
    assert all(final[c] == first[c] for c in ("c0", "c1", "c3", "c4"))  # kept as they were


def test_a_worker_killed_mid_batch_is_replaced_and_the_same_run_finishes(cluster: Cluster, tmp_path: Path) -> None:
    """2,000 lines, 500 questions (four lines each); each question has a model name of its own, so that the
    emulator's per-model call count is a per-question count."""
    tenant = uuid.uuid4().hex[:8]
    tag = uuid.uuid4().hex[:6]
    questions = [f"Order {i}: where is parcel {i * 7919 % 100000}?" for i in range(500)]
    lines = [
        openai_line(f"k{n}", questions[n % 500], f"gpt-4o-mini-{tag}-{n % 500}", tenant=tenant, namespace="para")
        for n in range(2000)
    ]
    source = tmp_path / "big.jsonl"
    source.write_text("\n".join(lines) + "\n")
    output = tmp_path / "out.jsonl"
    log = (tmp_path / "batch.log").open("w")
    run = subprocess.Popen(batch_command(cluster, str(source), "-o", str(output)), env=cluster.env, cwd=ROOT,
                           stdout=log, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_until(lambda: lines_in(output) >= 600, "600 lines written before the kill")
        old = cluster.processes.pop()
        old.send_signal(signal.SIGKILL)
        old.wait(timeout=10)
        stored = _stored_questions(cluster)  # answers in the cache when the worker died
        cluster.start("worker", "--queues", "llm,maintenance", name="worker-2")
        cluster.wait_for_workers()
        run.wait(timeout=120)  # the same run finishes by itself
    finally:
        if run.poll() is None:
            run.kill()
        log.close()
    assert run.returncode == 0, (tmp_path / "batch.log").read_text()
    found = by_custom_id(output)  # asserts every custom_id at most once
    assert sorted(found, key=lambda c: int(c[1:])) == [f"k{n}" for n in range(2000)]
    assert all(row["response"]["status_code"] == 200 for row in found.values())
    calls = {i: cluster.provider_calls(f"gpt-4o-mini-{tag}-{i}") for i in range(500)}
    assert all(count >= 1 for count in calls.values())
    assert stored, "the kill came before any answer was stored"
    twice = [questions[i] for i, count in calls.items() if count > 1 and questions[i] in stored]
    assert twice == []  # no second provider call for an answer the cache held
    assert "sent again" in (tmp_path / "batch.log").read_text()  # the lost chunks were seen and sent again


def _stored_questions(cluster: Cluster) -> set[str]:
    client = redis.Redis.from_url(cluster.settings.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{cluster.settings.key_prefix}:entry:*", count=1000))
        bodies = client.mget(keys) if keys else []
    finally:
        client.close()
    return {CacheEntry.model_validate_json(body).prompt_text or "" for body in bodies if body is not None}
