"""The worker's answering of distinct misses (one per request key, after the client's file-wide dedupe).

Each is looked up once more (another run may have answered it meanwhile: a redelivered chunk never pays twice for
a stored answer), then the rest go to a `MissAnswerer` in one call. Answers are stored in groups
(`store_many`: one Redis round trip, one index upsert) and their output lines pushed right after, as they complete.
A paid answer whose store fails is still written out, with a warning and the `store_failed` metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from llmcache.shared.answering.base import Answered, MissAnswerer, MissRequest
from llmcache.shared.cache import LLMCache, StoreItem
from llmcache.shared.errors import LLMCacheError
from llmcache.shared.jobs import JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.models import Completion, Miss
from llmcache.shared.providers.pricing import PricingTable
from llmcache.workers.batch.chunk import error_row, failed_result, lookup_in_groups, result_row
from llmcache.workers.batch.formats import BatchFormat, LineError, ParsedLine
from llmcache.workers.batch.messages import AnswerChunk, AnswerItem, ChunkResult, Row, decode_vector
from llmcache.workers.batch.parsing import LineRules, parse_line

log = structlog.get_logger("llmcache.batch.misses")


@dataclass
class _Answer:
    item: AnswerItem
    parsed: ParsedLine
    miss: Miss
    completion: Completion
    latency_ms: float


@dataclass
class MissAnswering:
    cache: LLMCache
    answerer: MissAnswerer
    namespaces: frozenset[str]
    pricing: PricingTable
    recorder: MetricsRecorder | None = None
    store_every: int = 16
    store_every_seconds: float = 0.5
    clock: Callable[[], float] = time.perf_counter

    def run(self, chunk: AnswerChunk, push: Callable[[ChunkResult], None], worker: str | None = None) -> None:
        """Push this chunk's rows as they are ready; the last push has `done`."""
        started = self.clock()
        fmt = chunk.run.fmt
        rules = LineRules(self.namespaces, self.pricing, chunk.run.max_prompt_chars)
        stages: dict[str, float] = {}

        def send(rows: list[Row], done: bool = False) -> None:
            if rows or done:
                stages["total"] = self.clock() - started
                push(
                    ChunkResult(
                        kind="answer", chunk_id=chunk.chunk_id, attempt=chunk.attempt, rows=rows, done=done,
                        stages=dict(stages), worker=worker,
                    )
                )  # fmt: skip

        rows: list[Row] = []
        items: list[AnswerItem] = []
        parsed: list[ParsedLine] = []
        for item in chunk.items:
            line = parse_line(item.line.line, item.line.text, fmt, chunk.run.defaults, rules)
            if isinstance(line, LineError):  # the lookup accepted it: only a changed limit gets here
                rows.append(error_row(fmt, item.line, line.custom_id or item.line.custom_id, line.message))
            else:
                items.append(item)
                parsed.append(line)
        try:
            found = lookup_in_groups(self.cache, parsed, stages, [decode_vector(i.vector) for i in items])
        except LLMCacheError as error:
            log.warning("batch_answer_lookup_failed", chunk_id=chunk.chunk_id, error=str(error))
            for item, line in zip(items, parsed, strict=True):
                failed = failed_result(line.job.job_id, line.custom_id, error)
                rows.append(result_row(fmt, item.line, line.custom_id, failed, key=item.key))
            send(rows, done=True)
            return
        waiting: dict[str, tuple[AnswerItem, ParsedLine, Miss]] = {}
        for item, line, result in zip(items, parsed, found, strict=True):
            if isinstance(result, Miss):
                waiting[item.key] = (item, line, result)
                continue
            hit = JobResult(
                job_id=line.job.job_id,
                custom_id=line.custom_id,
                outcome=Outcome(result.kind.value),
                similarity=result.similarity,
                completion=result.entry.completion,
                saved_usd=result.entry.completion.cost_usd,
                entry_id=result.entry.entry_id,
            )
            rows.append(result_row(fmt, item.line, line.custom_id, hit, key=item.key))
            self._record(line, hit)
        send(rows)
        requests = [
            MissRequest(
                key=key,
                request=line.job.request,
                prompt_cache_ttl=self.cache.policy(line.job.request.namespace).prompt_cache_ttl,
            )
            for key, (_, line, _) in waiting.items()
        ]
        pending: list[_Answer] = []
        failed_rows: list[Row] = []
        last_flush = self.clock()
        asked = self.clock()
        for outcome in self.answerer.answer(requests):
            item, line, miss = waiting[outcome.key]
            if isinstance(outcome, Answered):
                pending.append(_Answer(item, line, miss, outcome.completion, (self.clock() - asked) * 1000))
            else:
                failure = JobResult(
                    job_id=line.job.job_id,
                    custom_id=line.custom_id,
                    outcome=Outcome.ERROR,
                    error=outcome.error,
                    latency_ms=(self.clock() - asked) * 1000,
                )
                failed_rows.append(result_row(fmt, item.line, line.custom_id, failure, key=item.key))
                self._record(line, failure)
            if len(pending) >= self.store_every or self.clock() - last_flush >= self.store_every_seconds:
                send(failed_rows + self._store(fmt, pending, stages))
                pending, failed_rows, last_flush = [], [], self.clock()
        stages["provider"] = self.clock() - asked
        send(failed_rows + self._store(fmt, pending, stages), done=True)

    def _store(self, fmt: BatchFormat, answers: list[_Answer], stages: dict[str, float]) -> list[Row]:
        if not answers:
            return []
        mark = self.clock()
        to_store = [a for a in answers if not a.parsed.job.overrides.no_store]
        stored: dict[str, bool] = {}
        paid_not_stored = False
        try:
            by_ttl: dict[int | None, list[_Answer]] = {}
            for answer in to_store:
                by_ttl.setdefault(answer.parsed.job.overrides.ttl_seconds, []).append(answer)
            for ttl, group in by_ttl.items():
                outcomes = self.cache.store_many(
                    [StoreItem(a.parsed.job.request, a.completion, a.miss) for a in group], ttl_seconds=ttl
                )
                stored.update((a.item.key, o.stored) for a, o in zip(group, outcomes, strict=True))
        except Exception as error:  # the answers are paid for: write them out whatever the store did
            paid_not_stored = True
            log.warning(
                "paid_answers_not_stored",
                answers=len(to_store),
                error=str(error),
                custom_ids=[a.parsed.custom_id for a in to_store][:20],
            )
            self._count_store_failures(to_store)
        stages["store"] = stages.get("store", 0.0) + self.clock() - mark
        rows: list[Row] = []
        for answer in answers:
            line = answer.parsed
            result = JobResult(
                job_id=line.job.job_id,
                custom_id=line.custom_id,
                outcome=Outcome.MISS,
                completion=answer.completion,
                cost_usd=answer.completion.cost_usd,
                provider_called=True,
                stored=stored.get(answer.item.key, False),
                latency_ms=answer.latency_ms,
            )
            row = result_row(fmt, answer.item.line, line.custom_id, result, key=answer.item.key)
            if paid_not_stored and not line.job.overrides.no_store:
                row = row.model_copy(update={"paid_not_stored": True})
            rows.append(row)
            self._record(line, result)
        return rows

    def _count_store_failures(self, answers: list[_Answer]) -> None:
        if self.recorder is None:
            return
        for answer in answers:
            request = answer.parsed.job.request
            try:
                self.recorder.count(request.namespace, request.model, "store_failed")
            except Exception as error:
                log.warning("batch_metrics_failed", error=str(error))

    def _record(self, line: ParsedLine, result: JobResult) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.record(line.job.request.namespace, line.job.request.model, result)
        except Exception as error:  # metrics never cost a line its answer
            log.warning("batch_metrics_failed", error=str(error))
