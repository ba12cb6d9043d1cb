"""`llmcache batch run`: a provider batch file through the cache cluster, resumable, with a progress bar."""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from shared.batchfiles import LineError, LineOptions, ParsedLine, error_line, parse_file, result_line
from shared.jobs import JobResult, Outcome
from workers.producer import JobHandle, LLMCacheClient


@dataclass
class BatchSummary:
    lines: int = 0
    skipped: int = 0  # already in the output (resume)
    outcomes: Counter[str] = field(default_factory=Counter)
    line_errors: int = 0
    spent_usd: float = 0.0
    saved_usd: float = 0.0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    provider_calls: int = 0

    def add(self, result: JobResult) -> None:
        self.outcomes[result.outcome.value] += 1
        self.spent_usd += result.cost_usd
        self.saved_usd += result.saved_usd
        if result.provider_called and result.completion is not None:
            usage = result.completion.usage
            self.provider_calls += 1
            self.input_tokens += usage.input_tokens
            self.cache_read_tokens += usage.cache_read_tokens
            self.cache_write_tokens += usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
            self.output_tokens += usage.output_tokens

    def postfix(self) -> str:
        o = self.outcomes
        return (
            f"exact={o['exact']} semantic={o['semantic']} coalesced={o['coalesced']} miss={o['miss']} "
            f"errors={o['error'] + self.line_errors} spent=${self.spent_usd:.4f} saved=${self.saved_usd:.4f}"
        )


def _written(output: Path) -> tuple[set[str], set[int]]:
    """custom_ids and input line numbers already answered; a partial last line (interrupted write) is dropped."""
    if not output.exists():
        return set(), set()
    kept: list[str] = []
    ids: set[str] = set()
    lines: set[int] = set()
    for text in output.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        kept.append(text)
        if isinstance(row.get("custom_id"), str) and row.get("llmcache", {}).get("outcome") is not None:
            ids.add(row["custom_id"])
        if isinstance(row.get("llmcache", {}).get("line"), int):
            lines.add(row["llmcache"]["line"])
    temporary = output.with_suffix(output.suffix + ".tmp")
    temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(temporary, output)
    return ids, lines


def run_batch(
    client: LLMCacheClient,
    input_path: Path,
    output_path: Path,
    defaults: LineOptions,
    *,
    window: int = 256,
    timeout: float = 900.0,
    progress: bool = True,
) -> BatchSummary:
    lines = input_path.read_text(encoding="utf-8").splitlines()
    fmt, parsed = parse_file(lines, defaults)
    done_ids, done_lines = _written(output_path)
    summary = BatchSummary(lines=len(parsed))
    todo: list[ParsedLine] = []
    with (
        output_path.open("a", encoding="utf-8") as out,
        tqdm(total=len(parsed), disable=not progress, unit="job", desc="batch") as bar,
    ):

        def write(row: dict[str, Any]) -> None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(1)
            bar.set_postfix_str(summary.postfix(), refresh=False)

        for item in parsed:
            if item.line in done_lines or (isinstance(item, ParsedLine) and item.custom_id in done_ids):
                summary.skipped += 1
                bar.update(1)
            elif isinstance(item, LineError):
                summary.line_errors += 1
                write(error_line(fmt, item.line, item.custom_id, item.message))
            else:
                todo.append(item)
        in_flight: deque[tuple[ParsedLine, JobHandle]] = deque()
        queue = deque(todo)
        while queue or in_flight:
            while queue and len(in_flight) < window:
                item = queue.popleft()
                in_flight.append((item, client.submit(item.job)))
            item, handle = in_flight.popleft()
            result = handle.result(timeout=timeout)
            summary.add(result)
            write(result_line(fmt, item.line, item.custom_id, result))
    return summary


def describe(summary: BatchSummary) -> str:
    o = summary.outcomes
    hits = o[Outcome.EXACT.value] + o[Outcome.SEMANTIC.value] + o[Outcome.COALESCED.value]
    answered = hits + o[Outcome.MISS.value]
    rate = hits / answered if answered else 0.0
    return (
        f"{summary.lines} lines ({summary.skipped} already done): exact {o['exact']}, semantic {o['semantic']}, "
        f"coalesced {o['coalesced']}, miss {o['miss']}, errors {o['error'] + summary.line_errors}; "
        f"hit rate {rate:.1%}; provider calls {summary.provider_calls}; "
        f"spent ${summary.spent_usd:.4f}, saved ${summary.saved_usd:.4f}"
    )
