from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcache.workers.cli import main


def test_lint_prompt_flags_a_timestamped_system_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompt = tmp_path / "system.txt"
    prompt.write_text("You are Acme's assistant. Generated at 2026-11-26T10:15:00Z for jane@acme.com.\n")
    assert main(["lint-prompt", str(prompt)]) == 1
    out = capsys.readouterr().out
    assert "[iso-timestamp]" in out and "[email]" in out and "2 finding(s)" in out


def _openai_line(custom_id: str, system: str) -> str:
    body = {"model": "m", "messages": [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def test_lint_prompt_reads_batch_lines_and_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text(_openai_line("a", "Be brief.") + "\n\n" + _openai_line("b", "Today is 2026-11-26.") + "\n")
    assert main(["lint-prompt", str(batch)]) == 1
    out = capsys.readouterr().out
    assert f"{batch}:3: messages[0]" in out and f"{batch}:1:" not in out
    clean_file = tmp_path / "clean.jsonl"
    clean_file.write_text(_openai_line("a", "Be brief.") + "\n")
    assert main(["lint-prompt", str(clean_file)]) == 0


def test_lint_prompt_reads_anthropic_lines_system_included(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = {
        "model": "m",
        "max_tokens": 16,
        "system": "Today is 2026-11-26.",
        "messages": [{"role": "user", "content": "hi"}],
    }
    batch = tmp_path / "anthropic.jsonl"
    batch.write_text(json.dumps({"custom_id": "a", "params": params}) + "\n")
    assert main(["lint-prompt", str(batch)]) == 1
    assert f"{batch}:1: system@" in capsys.readouterr().out


def test_lint_prompt_reads_a_bare_request_body(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    anthropic = tmp_path / "anthropic.json"
    anthropic.write_text(json.dumps({"model": "m", "max_tokens": 16, "system": "Mail jane@acme.com.",
                                     "messages": [{"role": "user", "content": "hi"}]}))  # fmt: skip
    assert main(["lint-prompt", str(anthropic)]) == 1
    assert "system@" in capsys.readouterr().out
    openai = tmp_path / "openai.json"
    openai.write_text(json.dumps(json.loads(_openai_line("a", "Session id: req_8f3a9c2d1e"))["body"]))
    assert main(["lint-prompt", str(openai)]) == 1
    assert "messages[0]@" in capsys.readouterr().out


def test_lint_prompt_refuses_what_batch_run_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    streaming = json.loads(_openai_line("a", "Be brief."))
    streaming["body"]["stream"] = True
    batch = tmp_path / "stream.jsonl"
    batch.write_text(_openai_line("ok", "Be brief.") + "\n" + json.dumps(streaming) + "\n")
    assert main(["lint-prompt", str(batch)]) == 2
    assert f"{batch}:2: cannot read a request: body.stream" in capsys.readouterr().err


def test_kv_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kv-estimate", "--preset", "llama-3-8b", "--seq-len", "8192"]) == 0
    assert "1.00 GiB" in capsys.readouterr().out
    assert (
        main(
            [
                "kv-estimate",
                "--layers",
                "32",
                "--heads",
                "32",
                "--kv-heads",
                "8",
                "--hidden",
                "4096",
                "--seq-len",
                "8192",
                "--batch",
                "2",
            ]
        )
        == 0
    )
    assert "2.00 GiB" in capsys.readouterr().out
    assert main(["kv-estimate", "--layers", "32"]) == 2
    assert "--heads" in capsys.readouterr().err
