"""Commands that refuse before doing any work: the error names what is wrong, nothing is sent, exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from llmcache.workers.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give exactly one of --id, --tenant, --namespace or --older-than"),
        (
            ["--tenant", "a", "--namespace", "faq"],
            "give exactly one of --id, --tenant, --namespace or --older-than (given: --tenant, --namespace)",
        ),
        (["--id", "x", "--version", "1"], "--version: goes with --namespace"),
        (["--namespace", "faq", "--user", "u"], "--user: goes with --tenant"),
    ],
)
def test_purge_names_the_flag_at_fault(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", *argv]) == 2
    assert capsys.readouterr().err == f"purge: {message}\n"


def test_purge_refuses_a_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["purge", "--older-than", "7x"])
    assert exited.value.code == 2
    assert "'7x' is not a duration like 30m, 12h, 7d" in capsys.readouterr().err


def test_tune_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"a": "How do I reset my password?", "b": "I forgot my password", "label": 1}) + "\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    assert main(["tune", "pairs", str(pairs), "--plot", str(tmp_path / "curves.png")]) == 2
    err = capsys.readouterr().err
    assert "--plot needs matplotlib" in err and "pip install 'llmcache[quality]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "curves.png").exists()
