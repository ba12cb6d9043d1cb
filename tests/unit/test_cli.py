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


def test_lint_prompt_reads_batch_lines_and_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "batch.jsonl"
    clean = {
        "custom_id": "a",
        "body": {
            "model": "m",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        },
    }
    dirty = {
        "custom_id": "b",
        "params": {"model": "m", "system": "Today is 2026-11-26.", "messages": [{"role": "user", "content": "hi"}]},
    }
    batch.write_text(json.dumps(clean) + "\n" + json.dumps(dirty) + "\n")
    assert main(["lint-prompt", str(batch)]) == 1
    out = capsys.readouterr().out
    assert f"{batch}:2:" in out and f"{batch}:1:" not in out
    clean_file = tmp_path / "clean.jsonl"
    clean_file.write_text(json.dumps(clean) + "\n")
    assert main(["lint-prompt", str(clean_file)]) == 0


def test_lint_prompt_bad_line_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": {"messages": []}}\n{not json\n')
    assert main(["lint-prompt", str(bad)]) == 2
    assert f"{bad}:1:" in capsys.readouterr().err


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
