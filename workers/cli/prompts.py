"""`lint-prompt`: per-request content in a prompt's cacheable prefix.

A batch file's lines are read by the batch parser itself, so lint-prompt reads a line exactly as `batch run` does;
a `.json` file is one batch line or one bare request body (given to that parser as the line that would carry it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmcache.workers.cli.common import file_exists


def add_lint_prompt(commands: Any) -> None:
    lint = commands.add_parser("lint-prompt", help="flag per-request content in a prompt's cacheable prefix")
    lint.add_argument("file", type=Path, help="a system prompt (text) or a request / batch file (JSON or JSONL)")
    lint.set_defaults(run=lint_prompt_command)


def lint_prompt_command(args: argparse.Namespace) -> int:
    return lint_prompt(args.file)


def lint_prompt(path: Path) -> int:
    """0: nothing found, 1: findings (printed), 2: the file or one of its requests cannot be read."""
    from llmcache.shared.providers.lint import lint_prefix_text, lint_request
    from llmcache.workers.batch.formats import LineError, LineOptions
    from llmcache.workers.batch.parsing import parse_line, sniff_format

    if not file_exists(path, "lint-prompt"):
        return 2
    text = path.read_text(encoding="utf-8")
    findings: list[tuple[str, object]] = []
    if path.suffix in (".json", ".jsonl"):
        lines = text.splitlines() if path.suffix == ".jsonl" else [_as_batch_line(text)]
        fmt = sniff_format(lines)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parsed = parse_line(number, line, fmt, LineOptions())
            if isinstance(parsed, LineError):
                problem = parsed.message.removeprefix(f"line {number}: ")
                print(f"lint-prompt: {path}:{number}: cannot read a request: {problem}", file=sys.stderr)
                return 2
            findings += [(f"{path}:{number}", f) for f in lint_request(parsed.job.request)]
    else:
        findings = [(str(path), f) for f in lint_prefix_text(text, "prompt")]
    for where, finding in findings:
        print(f"{where}: {finding}")
    print(f"{len(findings)} finding(s)" if findings else "no per-request content found in the cacheable prefix")
    return 1 if findings else 0


def _as_batch_line(text: str) -> str:
    """A `.json` file as one batch line: a batch line stays as it is; a bare request body becomes the line that
    carries it (Anthropic when it has a top-level `system`, which OpenAI bodies do not; OpenAI otherwise)."""
    from llmcache.workers.batch.formats import OPENAI_URL, detect_format

    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return text  # the batch parser reports it
    if not isinstance(raw, dict) or detect_format(raw) is not None:
        return text
    if "system" in raw:
        return json.dumps({"custom_id": "request", "params": raw})
    return json.dumps({"custom_id": "request", "method": "POST", "url": OPENAI_URL, "body": raw})
