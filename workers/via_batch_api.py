"""`llmcache batch run IN -o OUT --via batch-api`: the cache answers what it can, the distinct misses go to the
providers' Batch APIs (half price), and every line's result, followers included, lands in OUT.

1. Lines are parsed as for a synchronous run; lines already in OUT are skipped (with `--retry-errors`, lines whose
   earlier result was a retryable error run again).
2. Chunks of lines go to the workers (`llmcache.batch_api.lookup`): hits are written at once.
3. Misses are deduped across the file by request key, and inside a chunk by the false-hit guard (a paraphrase
   follows its leader). Each leader becomes one provider batch request with custom_id `k<request key>`.
4. Leaders are grouped per provider (and per model for OpenAI), split to the provider's limits and submitted;
   every job is recorded in `OUT.batch-api.json` *before* polling, so a stopped run that is started again finds
   its jobs there and waits for them instead of submitting new ones.
5. The CLI polls (tenacity, exponential backoff), fetches the results, stores the answers through the workers
   (`llmcache.batch_api.store`) and writes the leader's line and its followers' lines.

Polling lives in this process, not in a beat task: the output file, the line-to-leader map and the resume state
are the run's own, and a beat task would have to keep all of them in Redis for up to 24 h. A nightly job that
should not keep a process waiting runs `batch run` again later (cron): it picks up the recorded jobs, and
`batch status OUT` says how far they are.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import BaseModel, ConfigDict, Field

from llmcache.shared.answering.base import Answered, MissOutcome, MissRequest
from llmcache.shared.jobs import Job, JobError, JobResult, Outcome
from llmcache.shared.models import Completion, ProviderName
from llmcache.shared.providers.batch_api.answerer import BatchAPIAnswerer
from llmcache.shared.providers.batch_api.base import BatchAPIClient, JobProgress, PollPolicy, SubmittedJob
from llmcache.shared.providers.pricing import PricingTable
from llmcache.workers.batch.formats import (
    BatchFormat,
    LineError,
    LineOptions,
    ParsedLine,
    encode_line,
    error_line,
    result_line,
)
from llmcache.workers.batch.parsing import LineRules, line_digest, options_digest, parse_file
from llmcache.workers.batch.resume import row_key
from llmcache.workers.batch_api_tasks import LOOKUP_TASK, STORE_TASK

log = structlog.get_logger("llmcache.batch_api")
STATE_VERSION = 1


class RecordedJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    job: SubmittedJob
    collected: bool = False


class RunState(BaseModel):
    """What `OUT.batch-api.json` holds: every provider job this output file ever submitted."""

    version: int = STATE_VERSION
    input: str
    jobs: list[RecordedJob] = Field(default_factory=list)


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".batch-api.json")


def load_state(output: Path, input_path: Path) -> RunState:
    path = state_path(output)
    if not path.exists():
        return RunState(input=str(input_path))
    return RunState.model_validate_json(path.read_text(encoding="utf-8"))


def save_state(output: Path, state: RunState) -> None:
    path = state_path(output)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(state.model_dump_json(indent=1), encoding="utf-8")
    os.replace(temporary, path)


class FileLedger:
    """The `JobLedger` of one output file: `OUT.batch-api.json`, rewritten atomically on every change."""

    def __init__(self, output: Path, input_path: Path) -> None:
        self._output = output
        self.state = load_state(output, input_path)
        self.before_collected: Callable[[], None] | None = None  # e.g. write out what was answered first

    def pending(self) -> list[SubmittedJob]:
        return [r.job for r in self.state.jobs if not r.collected]

    def record(self, job: SubmittedJob) -> None:
        self.state.jobs.append(RecordedJob(job=job))
        save_state(self._output, self.state)

    def collected(self, job: SubmittedJob) -> None:
        if self.before_collected is not None:
            self.before_collected()
        self.state.jobs = [
            RecordedJob(job=r.job, collected=True) if r.job.batch_id == job.batch_id else r for r in self.state.jobs
        ]
        save_state(self._output, self.state)


@dataclass
class DollarTotals:
    """Dollars of the lines written in this run, three ways."""

    no_cache_sync: float = 0.0  # every line answered by its own synchronous call
    cache_sync: float = 0.0  # the cache's hits free, the misses by synchronous calls
    cache_batch: float = 0.0  # the cache's hits free, the misses through the Batch APIs (what was paid)


@dataclass
class ViaBatchSummary:
    lines: int = 0
    skipped: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    line_errors: int = 0
    retryable_errors: int = 0
    batch_requests: int = 0  # leaders answered through provider batches in this run
    submitted: list[str] = field(default_factory=list)  # provider batch ids submitted by this run
    resumed: list[str] = field(default_factory=list)  # provider batch ids picked up from an earlier run
    dollars: DollarTotals = field(default_factory=DollarTotals)


@dataclass
class _Leader:
    key: str  # the request key
    line: ParsedLine
    prompt_cache_ttl: str
    followers: list[tuple[ParsedLine, float | None]] = field(default_factory=list)  # (line, similarity)


class ClusterCalls:
    """The coupling to the worker cluster: two tasks (lookups and stores run where the index lives)."""

    def __init__(self, app: Any, timeout: float) -> None:
        self._app = app
        self._timeout = timeout

    def lookup(self, chunks: Sequence[Sequence[Job]]) -> list[list[dict[str, Any]]]:
        sent = [self._app.send_task(LOOKUP_TASK, args=[[j.model_dump(mode="json") for j in c]]) for c in chunks]
        return [s.get(timeout=self._timeout, disable_sync_subtasks=False) for s in sent]

    def store(self, items: Sequence[tuple[Job, Completion]]) -> list[dict[str, Any]]:
        payload = [{"job": j.model_dump(mode="json"), "completion": c.model_dump(mode="json")} for j, c in items]
        answer: list[dict[str, Any]] = self._app.send_task(STORE_TASK, args=[payload]).get(
            timeout=self._timeout, disable_sync_subtasks=False
        )
        return answer


def _keys_and_digests(
    lines: Sequence[str], parsed: Sequence[ParsedLine | LineError], defaults: LineOptions
) -> tuple[list[tuple[str, int | None]], dict[str, str]]:
    """Each parsed line's resume key (and, for a repeated custom_id, the line it repeats), and key -> digest of the
    line's text under these defaults (an edited line, or other defaults, run again)."""
    salt = options_digest(defaults)
    first: dict[str, int] = {}
    keys: list[tuple[str, int | None]] = []
    digests: dict[str, str] = {}
    for item in parsed:
        repeats = first.get(item.custom_id) if item.custom_id is not None else None
        if item.custom_id is not None:
            first.setdefault(item.custom_id, item.line)
        key = row_key(item.custom_id, item.line, repeats)
        keys.append((key, repeats))
        digests[key] = line_digest(lines[item.line - 1].encode("utf-8"), salt)
    return keys, digests


def _read_output(output: Path, retry_errors: bool, current: Mapping[str, str]) -> set[str]:
    """Keys (custom_id; `#line:N` without one) of the input lines already answered. An output line stays when its
    line is unchanged (same digest) and it is not an error to retry (`retry_errors`: retryable errors run again);
    the file is rewritten without the others (and without a partial last line of an interrupted write)."""
    if not output.exists():
        return set()
    kept: list[str] = []
    done: set[str] = set()
    for text in output.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        meta = row.get("llmcache") or {}
        if not isinstance(meta.get("line"), int) or meta.get("outcome") is None:
            continue
        custom_id = row.get("custom_id")
        key = row_key(custom_id if isinstance(custom_id, str) else None, meta["line"], meta.get("duplicate_of"))
        if key in done or current.get(key) is None or current.get(key) != meta.get("digest"):
            continue  # written twice, no longer in the input, or the line changed: it runs again
        if retry_errors and meta.get("outcome") == "error" and meta.get("retryable"):
            continue
        kept.append(text)
        done.add(key)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(temporary, output)
    return done


def _sync_usd(pricing: PricingTable, completion: Completion | None) -> float:
    if completion is None:
        return 0.0
    try:
        return pricing.cost(completion.model, completion.usage).usd
    except Exception:  # a model outside the table: the answer's own cost is the best we know
        return completion.cost_usd


class _Writer:
    def __init__(
        self, out: TextIO, fmt: BatchFormat, summary: ViaBatchSummary, pricing: PricingTable, digests: Mapping[str, str]
    ) -> None:
        self._out = out
        self._fmt = fmt
        self._summary = summary
        self._pricing = pricing
        self._digests = digests  # row key -> digest of its input line (resume compares them)

    def line_error(self, item: LineError, key: str, duplicate_of: int | None) -> None:
        self._summary.line_errors += 1
        digest = self._digests.get(key)
        self._write(
            error_line(self._fmt, item.line, item.custom_id, item.message, digest=digest, duplicate_of=duplicate_of)
        )

    def result(self, line: ParsedLine, result: JobResult) -> None:
        summary = self._summary
        log.debug(
            "batch_api_line",
            job_id=result.job_id,
            custom_id=line.custom_id,
            cache_outcome=result.outcome.value,
            provider_called=result.provider_called,
            retryable=result.error.retryable if result.error else None,
        )
        summary.outcomes[result.outcome.value] += 1
        row = result_line(self._fmt, line.line, line.custom_id, result, digest=self._digests.get(line.custom_id))
        if result.error is not None:
            summary.retryable_errors += int(result.error.retryable)
            row["llmcache"]["retryable"] = result.error.retryable
            row["llmcache"]["error_type"] = result.error.type
            _provider_words(self._fmt, row, result.error)
        else:
            sync = _sync_usd(self._pricing, result.completion)
            summary.dollars.no_cache_sync += sync
            if result.provider_called:
                summary.dollars.cache_sync += sync
                summary.dollars.cache_batch += result.cost_usd
            row["llmcache"]["via"] = "batch-api" if result.provider_called else "cache"
        self._write(row)

    def _write(self, row: dict[str, Any]) -> None:
        self._out.write(encode_line(row) + "\n")
        self._out.flush()


ANTHROPIC_NOT_RUN = {"batch_expired": "expired", "batch_canceled": "canceled"}


def _provider_words(fmt: BatchFormat, row: dict[str, Any], error: JobError) -> None:
    """A request the Batch API never ran keeps the provider's own words: OpenAI's error code (`batch_expired`,
    `batch_cancelled`), Anthropic's result type (`expired`, `canceled`)."""
    if fmt == "openai" and error.status is None and error.type.startswith("batch_") and row.get("error"):
        row["error"]["code"] = error.type
    elif fmt == "anthropic" and error.type in ANTHROPIC_NOT_RUN:
        row["result"] = {"type": ANTHROPIC_NOT_RUN[error.type]}


def _plan(calls: ClusterCalls, todo: Sequence[ParsedLine], chunk: int, writer: _Writer) -> dict[str, _Leader]:
    """Look every line up; write the hits; return the leaders (by request key) with their followers."""
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    answers = calls.lookup([[p.job for p in c] for c in chunks])
    leaders: dict[str, _Leader] = {}
    followers_of: list[tuple[ParsedLine, str, float | None]] = []
    for lines, rows in zip(chunks, answers, strict=True):
        for line, row in zip(lines, rows, strict=True):
            if row["kind"] in ("hit", "error"):
                writer.result(line, JobResult.model_validate(row["result"]))
                continue
            key = str(row["request_key"])
            if row.get("leader_key"):
                followers_of.append((line, str(row["leader_key"]), row.get("similarity")))
            elif key in leaders:
                leaders[key].followers.append((line, None))
            else:
                leaders[key] = _Leader(key, line, str(row.get("prompt_cache_ttl") or "5m"))
    for line, key, similarity in followers_of:
        leader = leaders.get(key)
        if leader is None:  # cannot happen: a leader key names a miss of the same chunk
            raise RuntimeError(f"line {line.line}: its leader {key[:16]} is not among the misses")
        leader.followers.append((line, similarity))
    return leaders


def _line_result(line: ParsedLine, outcome: MissOutcome, similarity: float | None, leader: bool) -> JobResult:
    if not isinstance(outcome, Answered):
        return JobResult(job_id=line.job.job_id, custom_id=line.custom_id, outcome=Outcome.ERROR, error=outcome.error)
    completion = outcome.completion
    return JobResult(
        job_id=line.job.job_id,
        custom_id=line.custom_id,
        outcome=Outcome.MISS if leader else Outcome.COALESCED,
        similarity=similarity,
        completion=completion,
        cost_usd=completion.cost_usd if leader else 0.0,
        saved_usd=0.0 if leader else completion.cost_usd,
        provider_called=leader,
    )


class _Finisher:
    """Stores answers through the workers in groups of `every` and writes each leader's line and its followers'."""

    def __init__(self, calls: ClusterCalls, writer: _Writer, every: int = 256) -> None:
        self._calls = calls
        self._writer = writer
        self._every = every
        self._buffer: list[tuple[_Leader, MissOutcome]] = []

    def add(self, leader: _Leader, outcome: MissOutcome) -> None:
        self._buffer.append((leader, outcome))
        if len(self._buffer) >= self._every:
            self.flush()

    def flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        to_store = [
            (leader.line.job, outcome.completion)
            for leader, outcome in buffer
            if isinstance(outcome, Answered) and not leader.line.job.overrides.no_store
        ]
        kept = (
            dict(zip([job.job_id for job, _ in to_store], self._calls.store(to_store), strict=True)) if to_store else {}
        )
        for leader, outcome in buffer:
            result = _line_result(leader.line, outcome, None, leader=True)
            if (row := kept.get(leader.line.job.job_id)) is not None:
                result = result.model_copy(update={"stored": bool(row["stored"]), "entry_id": row["entry_id"]})
            self._writer.result(leader.line, result)
            for follower, similarity in leader.followers:
                self._writer.result(follower, _line_result(follower, outcome, similarity, leader=False))


@dataclass(frozen=True)
class RunOptions:
    retry_errors: bool = False
    chunk: int = 500
    timeout: float = 900.0
    poll: PollPolicy = field(default_factory=PollPolicy)
    on_progress: Callable[[JobProgress], None] | None = None


def run_via_batch_api(
    app: Any,
    clients: Mapping[ProviderName, BatchAPIClient],
    pricing: PricingTable,
    paths: tuple[Path, Path],
    *,
    defaults: LineOptions,
    options: RunOptions | None = None,
) -> ViaBatchSummary:
    """`paths`: (input, output)."""
    options = options or RunOptions()
    input_path, output_path = paths
    lines = input_path.read_text(encoding="utf-8").splitlines()
    fmt, parsed = parse_file(lines, defaults, LineRules(pricing=pricing))  # an unknown model: an error line
    keys, digests = _keys_and_digests(lines, parsed, defaults)
    done = _read_output(output_path, options.retry_errors, digests)
    ledger = FileLedger(output_path, input_path)
    summary = ViaBatchSummary(lines=len(parsed))
    calls = ClusterCalls(app, options.timeout)
    answerer = BatchAPIAnswerer(
        clients,
        ledger,
        poll=options.poll,
        on_progress=options.on_progress or _report,
        metadata={"llmcache_output": output_path.name[:500]},
    )
    todo: list[ParsedLine] = []
    with output_path.open("a", encoding="utf-8") as out:
        writer = _Writer(out, fmt, summary, pricing, digests)
        for item, (key, duplicate_of) in zip(parsed, keys, strict=True):
            if key in done:
                summary.skipped += 1
            elif isinstance(item, LineError):
                writer.line_error(item, key, duplicate_of)
            else:
                todo.append(item)
        leaders = _plan(calls, todo, options.chunk, writer) if todo else {}
        misses = [
            MissRequest(
                key=key,
                request=leader.line.job.request,
                prompt_cache_ttl="1h" if leader.prompt_cache_ttl == "1h" else "5m",
            )
            for key, leader in leaders.items()
        ]
        finisher = _Finisher(calls, writer)
        ledger.before_collected = finisher.flush  # a job is marked collected only once its lines are written
        for outcome in answerer.answer(misses):
            summary.batch_requests += 1
            finisher.add(leaders[outcome.key], outcome)
        finisher.flush()
        summary.submitted = [job.batch_id for job in answerer.submitted]
        summary.resumed = [job.batch_id for job in answerer.resumed]
    return summary


def _report(progress: JobProgress) -> None:
    print(
        f"batch-api {progress.provider} {progress.batch_id}: {progress.status} "
        f"({progress.done}/{progress.total} done, {progress.failed} failed)",
        file=sys.stderr,
        flush=True,
    )


def status(clients: Mapping[ProviderName, BatchAPIClient], output: Path) -> list[tuple[RecordedJob, JobProgress]]:
    """Every recorded provider job of this output file, with its progress as the provider reports it now."""
    state = load_state(output, Path(""))
    return [(r, clients[r.job.provider].progress(r.job.batch_id)) for r in state.jobs]


def cancel(clients: Mapping[ProviderName, BatchAPIClient], output: Path) -> list[JobProgress]:
    """Cancel every provider job of this output not collected yet; `batch run` again collects what they answered
    (the cancelled requests become retryable error lines)."""
    state = load_state(output, Path(""))
    return [clients[r.job.provider].cancel(r.job.batch_id) for r in state.jobs if not r.collected]


def describe(summary: ViaBatchSummary) -> str:
    o = summary.outcomes
    d = summary.dollars
    saving = 1 - d.cache_batch / d.no_cache_sync if d.no_cache_sync else 0.0
    return (
        f"{summary.lines} lines ({summary.skipped} already done): exact {o['exact']}, semantic {o['semantic']}, "
        f"coalesced {o['coalesced']}, miss {o['miss']} (through provider Batch APIs), "
        f"errors {o['error'] + summary.line_errors} ({summary.retryable_errors} retryable); "
        f"provider batches submitted {len(summary.submitted)}, picked up {len(summary.resumed)}\n"
        f"dollars: no cache (sync) ${d.no_cache_sync:.8f} | with cache (sync) ${d.cache_sync:.8f} | "
        f"with cache + batch ${d.cache_batch:.8f} ({saving:.1%} less than no cache)"
    )
