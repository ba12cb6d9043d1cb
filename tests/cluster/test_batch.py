"""`llmcache batch run` against real workers: formats, duplicates, paraphrases, bad lines, resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.cluster.conftest import ROOT, Cluster

SYSTEM = "You are the support assistant of Acme Cloud."


def openai_line(custom_id: str, text: str, model: str, tenant: str) -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": model,
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
                "max_tokens": 200,
            },
            "llmcache": {"namespace": "para", "tenant": tenant},
        }
    )


def run_cli(cluster: Cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "batch", "run", *args, "--no-progress"],
        env=cluster.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_openai_batch_with_duplicates_paraphrases_and_bad_lines(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    lines = [
        openai_line("q1", "How do I reset my password?", model, tenant),
        openai_line("q2", "How do I reset my password?", model, tenant),  # duplicate prompt
        openai_line("q3", "How can I reset my password?", model, tenant),  # paraphrase
        '{"custom_id": "broken", "method": "POST", "url": "/v1/chat/completions", "body": {"model": ',  # malformed
        openai_line("q1", "What is your SLA?", model, tenant),  # duplicate custom_id
        json.dumps(
            {
                "custom_id": "no-model",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"messages": [{"role": "user", "content": "hi"}]},
            }
        ),
        openai_line("q4", "Where can I download my invoices?", model, tenant),
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
    answers = {by_line[n]["response"]["body"]["choices"][0]["message"]["content"] for n in (1, 2, 3)}
    assert len(answers) == 1  # duplicate and paraphrase got the first answer
    # the three ran concurrently: whichever went first asked the provider, the other two shared its answer
    outcomes = sorted(by_line[n]["llmcache"]["outcome"] for n in (1, 2, 3))
    assert outcomes.count("miss") == 1
    assert set(outcomes) - {"miss"} <= {"exact", "semantic", "coalesced"}
    assert by_line[4]["error"]["message"].startswith("line 4: not valid JSON") and by_line[4]["custom_id"] is None
    assert by_line[5]["error"]["message"] == "line 5: custom_id 'q1' duplicates line 1"
    assert by_line[6]["error"]["message"].startswith("line 6: body.model") and by_line[6]["custom_id"] == "no-model"
    assert by_line[7]["llmcache"]["outcome"] == "miss"
    assert cluster.provider_calls(model) == 2  # the password question once, the invoices question once
    assert "7 lines" in done.stdout and "errors 3" in done.stdout


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
    by_id = {row["custom_id"]: row for row in rows(output)}
    first, second = by_id["a1"], by_id["a2"]
    assert first["custom_id"] == "a1" and first["result"]["type"] == "succeeded"
    assert first["result"]["message"]["type"] == "message" and first["result"]["message"]["content"][0]["text"]
    assert second["result"]["type"] == "errored"
    assert (
        second["result"]["error"]["error"]["message"]
        == "line 2: params.max_tokens: an integer is required by Anthropic"
    )


def test_rerun_after_interruption_resumes(cluster: Cluster, tmp_path: Path) -> None:
    model = f"gpt-4o-mini-{uuid.uuid4().hex[:6]}"
    tenant = uuid.uuid4().hex[:8]
    questions = [f"Question number {i} about plan {i * 7} and seat {i * 3}?" for i in range(40)]
    source = tmp_path / "batch.jsonl"
    source.write_text("".join(openai_line(f"c{i}", q, model, tenant) + "\n" for i, q in enumerate(questions)))
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "batch", "run", str(source), "-o", str(output), "--no-progress",
         "--window", "4"],
        env=cluster.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not output.exists() or len(output.read_text().splitlines()) < 5):
        time.sleep(0.05)  # waiting for the run to get part-way, then interrupting it
    process.kill()
    process.wait(timeout=10)
    partial = [json.loads(x)["custom_id"] for x in output.read_text().splitlines() if x.strip().endswith("}")]
    assert 5 <= len(partial) < 40
    done = run_cli(cluster, str(source), "-o", str(output))
    assert done.returncode == 0, done.stderr
    final = rows(output)
    assert sorted(r["custom_id"] for r in final) == sorted(f"c{i}" for i in range(40))  # each exactly once
    assert f"({len(partial)} already done)" in done.stdout
