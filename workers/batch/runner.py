"""`llmcache batch run`, the client: the file goes to workers in chunks, and every line gets exactly one output line.

1. Scan the input (custom_ids, digests, lines no worker could take) and plan the resume from the output.
2. Lookup chunks (`llmcache.batch.lookup`, `chunk_size` lines each) come back with the hits and bad lines as
   finished output lines, and each distinct miss once, with its vector.
3. The planner collapses misses across the whole file: one leader per request key or guard-accepted equivalent.
4. Answer chunks (`llmcache.batch.answer`) answer the leaders through the worker's `MissAnswerer`, store them in
   groups and push their output lines as they complete; each follower then gets its leader's answer.
5. Leases tell in seconds when a chunk was lost with its worker or with Redis: its missing lines are sent again.
   A line still without an answer after `timeout` seconds gets a retryable error line, so the run always ends.

Workers push to a per-run Redis list that the client pops: nothing piles up in Redis, and nothing is kept there
once written (the list and the leases expire by themselves if the client dies).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import structlog
from kombu.exceptions import OperationalError
from tqdm import tqdm

from llmcache.shared.config import Settings
from llmcache.workers.batch.formats import BatchFormat, LineOptions, encode_line, error_line, follower_line
from llmcache.workers.batch.lease import RunKeys
from llmcache.workers.batch.messages import (
    AnswerChunk,
    AnswerItem,
    ChunkLine,
    ChunkResult,
    LookupChunk,
    MissInfo,
    Row,
    RunSpec,
    pack_chunk,
)
from llmcache.workers.batch.output import OutputWriter
from llmcache.workers.batch.parsing import options_digest
from llmcache.workers.batch.planning import Leader, MissPlanner
from llmcache.workers.batch.resume import plan_resume, row_key
from llmcache.workers.batch.scan import InputLine, open_input, read_text, scan_input
from llmcache.workers.batch.settings import BatchSettings
from llmcache.workers.producer import LLMCacheClient

log = structlog.get_logger("llmcache.batch")
LOOKUP_TASK = "llmcache.batch.lookup"
ANSWER_TASK = "llmcache.batch.answer"
TRANSIENT = (redis.RedisError, OperationalError, ConnectionError, OSError)


@dataclass
class BatchSummary:
    lines: int = 0
    skipped: int = 0  # already in the output (resume)
    outcomes: Counter[str] = field(default_factory=Counter)
    line_errors: int = 0  # kept for callers of the old summary: errors are all in outcomes["error"]
    retryable_errors: int = 0
    spent_usd: float = 0.0
    saved_usd: float = 0.0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    provider_calls: int = 0
    deduped: int = 0  # lines answered by a leader of this run (outcome coalesced)
    paid_not_stored: int = 0
    chunks_resent: int = 0
    unfinished: int = 0  # lines without an output line when the run had to stop
    stages: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # seconds, over chunks
    seconds: float = 0.0

    def add(self, row: Row) -> None:
        self.outcomes[row.outcome] += 1
        self.spent_usd += row.cost_usd
        self.saved_usd += row.saved_usd
        if row.outcome == "error" and row.retryable:
            self.retryable_errors += 1
        if row.paid_not_stored:
            self.paid_not_stored += 1
        if row.provider_called and row.usage is not None:
            self.provider_calls += 1
            self.input_tokens += row.usage.input_tokens
            self.cache_read_tokens += row.usage.cache_read_tokens
            self.cache_write_tokens += row.usage.cache_write_tokens
            self.output_tokens += row.usage.output_tokens

    @property
    def errors(self) -> int:
        return self.outcomes["error"] + self.line_errors

    def postfix(self) -> str:
        o = self.outcomes
        return (
            f"exact={o['exact']} semantic={o['semantic']} coalesced={o['coalesced']} miss={o['miss']} "
            f"errors={self.errors} spent=${self.spent_usd:.4f} saved=${self.saved_usd:.4f}"
        )


def describe(summary: BatchSummary) -> str:
    o = summary.outcomes
    hits = o["exact"] + o["semantic"] + o["coalesced"]
    answered = hits + o["miss"]
    rate = hits / answered if answered else 0.0
    text = (
        f"{summary.lines} lines ({summary.skipped} already done): exact {o['exact']}, semantic {o['semantic']}, "
        f"coalesced {o['coalesced']}, miss {o['miss']}, errors {summary.errors} "
        f"({summary.retryable_errors} retryable); hit rate {rate:.1%}; provider calls {summary.provider_calls}; "
        f"spent ${summary.spent_usd:.4f}, saved ${summary.saved_usd:.4f}"
    )
    if summary.paid_not_stored:
        text += f"; {summary.paid_not_stored} paid answers written but not stored"
    if summary.chunks_resent:
        text += f"; {summary.chunks_resent} chunks sent again (lost with a worker or with Redis)"
    if summary.unfinished:
        text += f"; {summary.unfinished} lines unfinished (re-run to resume)"
    return text


@dataclass
class _Flight:
    """One chunk in flight: what it still owes, and what its lease said."""

    kind: str
    chunk_id: str
    attempt: int
    lines: list[int]  # lookup: input line numbers; answer: leader keys are in `keys`
    keys: list[str]
    sent_at: float
    first_sent_at: float
    seen: bool = False
    seen_at: float = 0.0
    missing: int = 0  # lease checks in a row that found no lease

    @property
    def lease_id(self) -> str:
        return f"{self.chunk_id}.{self.attempt}"


class BatchRun:
    def __init__(
        self,
        client: LLMCacheClient,
        settings: Settings,
        batch: BatchSettings,
        *,
        input_path: Path,
        output_path: Path,
        defaults: LineOptions,
        timeout: float,
        ordered: bool,
        retry_errors: bool,
        progress: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.batch = batch
        self.input_path = input_path
        self.output_path = output_path
        self.defaults = defaults
        self.timeout = timeout
        self.ordered = ordered
        self.retry_errors = retry_errors
        self.progress = progress
        self.clock = clock
        self.summary = BatchSummary()
        self.run_id = uuid.uuid4().hex[:16]
        self.keys = RunKeys(settings.key_prefix, self.run_id)
        self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
        self.planner = MissPlanner()
        self.waiters: deque[InputLine] = deque()  # lines to look up again: the leader they waited on is answered
        self.waited_on: dict[int, str] = {}  # line -> the custom_id of the leader it waited on
        self.flights: dict[str, _Flight] = {}
        self.answer_queue: deque[Leader] = deque()
        self.queued_at: dict[str, float] = {}
        self.written: set[int] = set()
        self.placed: set[int] = set()  # lines waiting on a leader's answer
        self.by_line: dict[int, InputLine] = {}
        self.last_progress = clock()
        self.newest_started = -1.0  # the latest send time of a chunk a worker took: the queue got that far
        self.outage_since: float | None = None
        self._chunk_counter = 0

    # -- the run ------------------------------------------------------------------------------------------------

    def run(self) -> BatchSummary:
        started = time.perf_counter()
        data = open_input(self.input_path)
        mark = time.perf_counter()
        scan = scan_input(data, options_digest(self.defaults))
        current = {row_key(i.custom_id, i.line, i.duplicate_of): i.digest for i in scan.lines}
        plan = plan_resume(self.output_path, current, retry_errors=self.retry_errors)
        todo = [i for i in scan.lines if row_key(i.custom_id, i.line, i.duplicate_of) not in plan.done]
        self.summary.lines = len(scan.lines)
        self.summary.skipped = len(scan.lines) - len(todo)
        self.summary.stages["scan"] += time.perf_counter() - mark
        self.spec = RunSpec(
            run_id=self.run_id,
            key_prefix=self.settings.key_prefix,
            fmt=scan.fmt,
            defaults=self.defaults,
            max_prompt_chars=self.batch.max_prompt_chars,
        )
        self.fmt: BatchFormat = scan.fmt
        self.data = data
        lookups: deque[list[InputLine]] = deque()
        chunk: list[InputLine] = []
        with (
            OutputWriter(self.output_path, ordered=self.ordered, order=[i.line for i in todo]) as out,
            tqdm(total=len(scan.lines), disable=not self.progress, unit="line", desc="batch") as bar,
        ):
            self.out, self.bar = out, bar
            bar.update(self.summary.skipped)
            for item in todo:
                self.by_line[item.line] = item
                if item.error is not None:
                    row = error_line(
                        self.fmt, item.line, item.custom_id, item.error, digest=item.digest,
                        duplicate_of=item.duplicate_of,
                    )  # fmt: skip
                    self._write(Row(line=item.line, custom_id=item.custom_id, text=encode_line(row), outcome="error"))
                    continue
                chunk.append(item)
                if len(chunk) >= self.batch.chunk_size:
                    lookups.append(chunk)
                    chunk = []
            if chunk:
                lookups.append(chunk)
            try:
                self._loop(lookups, len(todo))
            finally:
                with contextlib.suppress(*TRANSIENT):
                    self.redis.delete(self.keys.results, self.keys.alive)
                self.redis.close()
        self.summary.seconds = time.perf_counter() - started
        self.summary.stages["write"] += out.seconds
        return self.summary

    def _loop(self, lookups: deque[list[InputLine]], total: int) -> None:
        alive_at = 0.0
        leases_at = 0.0
        while len(self.written) < total:
            now = self.clock()
            try:
                if now - alive_at >= 5.0:
                    self.redis.set(self.keys.alive, "1", ex=60)
                    alive_at = now
                while self.waiters and self._in_flight("lookup") < self.batch.lookup_window:
                    size = min(self.batch.chunk_size, len(self.waiters))
                    self._send_lookup([self.waiters.popleft() for _ in range(size)])
                while lookups and self._in_flight("lookup") < self.batch.lookup_window:
                    self._send_lookup(lookups.popleft())
                self._send_answers(lookups_left=bool(lookups or self.waiters) or self._in_flight("lookup") > 0)
                for message in self._receive():
                    self._handle(message)
                if self.clock() - leases_at >= min(1.0, self.batch.lease_seconds / 2):
                    self._check_leases()
                    leases_at = self.clock()
                self._expire_overdue()
                if self.outage_since is not None:
                    print("batch run: Redis is back; the run goes on", file=sys.stderr, flush=True)
                    self.outage_since = None
            except TRANSIENT as error:
                if self.outage_since is None:
                    self.outage_since = self.clock()
                    print(f"batch run: Redis unreachable ({error}); retrying", file=sys.stderr, flush=True)
                elif self.clock() - self.outage_since > self.timeout:
                    self.summary.unfinished = total - len(self.written)
                    raise
                time.sleep(1.0)
                alive_at = 0.0
        self.out.flush()

    # -- dispatch ------------------------------------------------------------------------------------------------

    def _in_flight(self, kind: str) -> int:
        return sum(1 for f in self.flights.values() if f.kind == kind)

    def _next_id(self, kind: str) -> str:
        self._chunk_counter += 1
        return f"{kind[0]}{self._chunk_counter}"

    def _chunk_line(self, item: InputLine, *, lookup: bool = False) -> ChunkLine:
        return ChunkLine(
            line=item.line, custom_id=item.custom_id, digest=item.digest, text=read_text(self.data, item),
            waited_on=self.waited_on.get(item.line) if lookup else None,
        )  # fmt: skip

    def _send_lookup(self, lines: list[InputLine], flight: _Flight | None = None) -> None:
        now = self.clock()
        if flight is None:
            flight = _Flight("lookup", self._next_id("lookup"), 0, [i.line for i in lines], [], now, now)
        chunk = LookupChunk(
            run=self.spec,
            chunk_id=flight.lease_id,
            attempt=flight.attempt,
            lines=[self._chunk_line(i, lookup=True) for i in lines],
        )
        self.flights[flight.chunk_id] = flight  # before sending: a send that fails is re-sent by the lease check
        self.client.app.send_task(LOOKUP_TASK, kwargs={"chunk": pack_chunk(chunk)})

    def _send_answers(self, *, lookups_left: bool) -> None:
        size = self.batch.answer_chunk_size
        while self.answer_queue and self._in_flight("answer") < self.batch.answer_window:
            oldest = self.queued_at.get(self.answer_queue[0].key, self.clock())
            if len(self.answer_queue) < size and lookups_left and self.clock() - oldest < 0.3:
                return  # a fuller chunk soon: more misses are on their way
            leaders = [self.answer_queue.popleft() for _ in range(min(size, len(self.answer_queue)))]
            now = self.clock()
            flight = _Flight("answer", self._next_id("answer"), 0, [], [x.key for x in leaders], now, now)
            self._dispatch_answer(flight)

    def _dispatch_answer(self, flight: _Flight) -> None:
        items = []
        for key in flight.keys:
            leader = self.planner.leader(key)
            if leader is None:
                continue
            item = self.by_line[leader.line.line]
            items.append(
                AnswerItem(
                    key=key, line=self._chunk_line(item), vector=leader.info.vector, looks_up=leader.info.looks_up
                )
            )
        flight.keys = [i.key for i in items]
        if not items:
            return
        self.flights[flight.chunk_id] = flight
        chunk = AnswerChunk(run=self.spec, chunk_id=flight.lease_id, attempt=flight.attempt, items=items)
        self.client.app.send_task(ANSWER_TASK, kwargs={"chunk": pack_chunk(chunk)})

    # -- results -------------------------------------------------------------------------------------------------

    def _receive(self) -> list[ChunkResult]:
        popped = self.redis.blpop([self.keys.results], timeout=0.25)
        if popped is None:
            return []
        raws: list[bytes | str] = [popped[1]]
        more = self.redis.lpop(self.keys.results, 200)
        if isinstance(more, list):
            raws.extend(more)
        return [ChunkResult.model_validate_json(raw) for raw in raws]

    def _handle(self, message: ChunkResult) -> None:
        self.last_progress = self.clock()
        started = self.flights.get(message.chunk_id.rsplit(".", 1)[0])
        if started is not None:  # a chunk that sent something was taken, even if its lease was never seen
            self.newest_started = max(self.newest_started, started.sent_at)
        if message.done:
            for stage, seconds in message.stages.items():
                if stage != "total":
                    self.summary.stages[stage] += seconds
        if message.skipped:
            return
        chunk_id = message.chunk_id.rsplit(".", 1)[0]
        flight = self.flights.get(chunk_id)
        if message.kind == "lookup":
            self._handle_lookup(message, flight)
        else:
            self._handle_answer(message, flight)

    def _handle_lookup(self, message: ChunkResult, flight: _Flight | None) -> None:
        for row in message.rows:
            self._write(row)
        for info in message.misses:
            self._place(info)
        if flight is not None and all(n in self.written or n in self.placed for n in flight.lines):
            del self.flights[flight.chunk_id]

    def _handle_answer(self, message: ChunkResult, flight: _Flight | None) -> None:
        for row in message.rows:
            self._answered(row)
        if flight is None:
            return
        answered = {r.key for r in message.rows}
        flight.keys = [k for k in flight.keys if k not in answered]
        if flight.lease_id == message.chunk_id and message.done:
            del self.flights[flight.chunk_id]
            for key in flight.keys:  # the worker gave these leaders no line: send them again
                leader = self.planner.leader(key)
                if leader is not None:
                    self.answer_queue.append(leader)

    def _place(self, info: MissInfo) -> None:
        lines = [m for m in info.lines if m.line not in self.written]
        if not lines:
            return
        if len(lines) != len(info.lines):
            info = info.model_copy(update={"lines": lines})
        self.placed.update(m.line for m in lines)
        leader = self.planner.place(info)
        if leader is not None:
            self.answer_queue.append(leader)
            self.queued_at[leader.key] = self.clock()

    def _answered(self, row: Row) -> None:
        if row.key is None:
            self._write(row)
            return
        leader = self.planner.finish(row.key)
        self.queued_at.pop(row.key, None)
        self._write(row)
        if leader is None:
            return
        for member, _ in leader.waiting:  # the cache, with its guard, decides for these now
            if member.line not in self.written:
                self.placed.discard(member.line)
                self.waited_on[member.line] = leader.line.custom_id
                self.waiters.append(self.by_line[member.line])
        if not leader.followers:
            return
        parsed: dict[str, Any] = json.loads(row.text)  # not orjson: a body's 64-bit+ integers stay exact
        saved = row.cost_usd or row.saved_usd
        for member in leader.followers:
            if member.line in self.written:
                continue
            text = follower_line(parsed, member.line, member.custom_id, member.digest, saved_usd=saved, similarity=None)
            failed = row.outcome == "error"
            self.summary.deduped += 0 if failed else 1
            self._write(
                Row(
                    line=member.line,
                    custom_id=member.custom_id,
                    text=text,
                    outcome="error" if failed else "coalesced",
                    saved_usd=0.0 if failed else saved,
                    retryable=row.retryable if failed else None,
                )
            )

    def _write(self, row: Row) -> None:
        if row.line in self.written:
            return
        self.written.add(row.line)
        self.summary.add(row)
        self.out.write(row.line, row.text)
        self.bar.update(1)
        if len(self.written) % 64 == 0:
            self.bar.set_postfix_str(self.summary.postfix(), refresh=False)

    # -- lost work -----------------------------------------------------------------------------------------------

    def _check_leases(self) -> None:
        if not self.flights:
            return
        flights = list(self.flights.values())
        leased = self.redis.mget([self.keys.lease(f.lease_id) for f in flights])
        now = self.clock()
        for flight, lease in zip(flights, leased, strict=True):
            if lease is not None:
                if not flight.seen:
                    self.last_progress = now
                flight.seen, flight.seen_at, flight.missing = True, now, 0
                self.newest_started = max(self.newest_started, flight.sent_at)
        stalled = now - self.last_progress > self.batch.stall_seconds
        if stalled and not self.client.app.control.ping(timeout=1.0):
            stalled = False  # no worker at all: what is queued waits for one, sending it again would double it
            self.last_progress = now
        for flight, lease in zip(flights, leased, strict=True):
            if lease is not None:
                continue
            if flight.seen:
                # the lease lapsed: its worker is gone. Twice in a row, with the results read in between: a chunk
                # drops its lease right after its last message, which the first check may have come before
                flight.missing += 1
                lost = flight.missing >= 2 and now - flight.seen_at > self.batch.heartbeat_seconds
            else:
                overtaken = self.newest_started > flight.sent_at
                waited = now - flight.sent_at
                lost = (overtaken and waited > self.batch.unclaimed_seconds) or (
                    stalled and waited > self.batch.stall_seconds
                )
            if lost:
                self._resend(flight)
        if stalled:
            self.last_progress = now

    def _resend(self, flight: _Flight) -> None:
        log.warning("batch_chunk_lost", chunk_id=flight.lease_id, kind=flight.kind, seen=flight.seen)
        self.summary.chunks_resent += 1
        flight.attempt += 1
        flight.seen = False
        flight.sent_at = self.clock()
        if flight.kind == "lookup":
            flight.lines = [n for n in flight.lines if n not in self.written and n not in self.placed]
            if not flight.lines:
                del self.flights[flight.chunk_id]
                return
            self._send_lookup([self.by_line[n] for n in flight.lines], flight)
        else:
            self._dispatch_answer(flight)
            if not flight.keys:
                self.flights.pop(flight.chunk_id, None)

    def _expire_overdue(self) -> None:
        """A chunk that has not finished `timeout` seconds after it was first sent: its lines get retryable errors."""
        now = self.clock()
        for flight in list(self.flights.values()):
            if now - flight.first_sent_at <= self.timeout:
                continue
            del self.flights[flight.chunk_id]
            message = f"no answer within {self.timeout:.0f} s (--timeout); re-run to retry"
            if flight.kind == "lookup":
                for number in flight.lines:
                    if number not in self.placed:
                        self._timeout_row(number, message)
                continue
            for key in flight.keys:
                leader = self.planner.finish(key)
                if leader is None:
                    continue
                self._timeout_row(leader.line.line, message)
                for member in [*leader.followers, *(line for line, _ in leader.waiting)]:
                    self._timeout_row(member.line, message)

    def _timeout_row(self, number: int, message: str) -> None:
        item = self.by_line[number]
        row = error_line(
            self.fmt, number, item.custom_id, f"line {number}: {message}", code="timeout", digest=item.digest,
            retryable=True,
        )  # fmt: skip
        self._write(Row(line=number, custom_id=item.custom_id, text=encode_line(row), outcome="error", retryable=True))


def run_batch(
    client: LLMCacheClient,
    input_path: Path,
    output_path: Path,
    defaults: LineOptions,
    *,
    settings: Settings | None = None,
    batch: BatchSettings | None = None,
    window: int | None = None,
    timeout: float = 900.0,
    progress: bool = True,
    ordered: bool = False,
    retry_errors: bool = False,
) -> BatchSummary:
    """`window`: lines in lookup chunks in flight at once (default: `lookup_window` chunks)."""
    batch = batch or BatchSettings()
    if window is not None:
        batch = batch.model_copy(update={"lookup_window": max(1, -(-window // batch.chunk_size))})
    return BatchRun(
        client, settings or client.settings, batch, input_path=input_path, output_path=output_path, defaults=defaults,
        timeout=timeout, ordered=ordered, retry_errors=retry_errors, progress=progress,
    ).run()  # fmt: skip
