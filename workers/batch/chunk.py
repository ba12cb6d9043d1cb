"""The worker's lookup of one chunk of lines: parse and check every line, then `LLMCache.lookup_many` (one MGET
for the exact lookups, one batched embedding of the distinct texts, one batched vector search, the guard). Hits
and bad lines come back as finished output lines; misses come back once per request key, with their vector, for
the client's file-wide dedupe."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from llmcache.shared.cache import LLMCache
from llmcache.shared.embedding.base import Vectors
from llmcache.shared.errors import BackendError, LLMCacheError
from llmcache.shared.jobs import JobError, JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.models import LookupResult, Miss
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.request_keys import semantic_text
from llmcache.workers.batch.formats import BatchFormat, LineError, ParsedLine, encode_line, error_line, result_line
from llmcache.workers.batch.messages import (
    ChunkLine,
    ChunkResult,
    LookupChunk,
    MissInfo,
    MissLine,
    Row,
    Usage4,
    encode_vector,
)
from llmcache.workers.batch.parsing import LineRules, parse_line

log = structlog.get_logger("llmcache.batch.chunk")


def error_row(fmt: BatchFormat, line: ChunkLine, custom_id: str | None, message: str) -> Row:
    row = error_line(fmt, line.line, custom_id, message, digest=line.digest)
    return Row(
        line=line.line,
        custom_id=custom_id,
        text=encode_line(row),
        outcome=Outcome.ERROR.value,
        retryable=False,
    )


def result_row(fmt: BatchFormat, line: ChunkLine, custom_id: str, result: JobResult, key: str | None = None) -> Row:
    usage = None
    if result.provider_called and result.completion is not None:
        u = result.completion.usage
        usage = Usage4(
            input_tokens=u.input_tokens,
            cache_read_tokens=u.cache_read_tokens,
            cache_write_tokens=u.cache_write_5m_tokens + u.cache_write_1h_tokens,
            output_tokens=u.output_tokens,
        )
    row = result_line(fmt, line.line, custom_id, result, digest=line.digest)
    if line.waited_on is not None and result.outcome is Outcome.COALESCED:
        row["llmcache"]["leader"] = line.waited_on
    return Row(
        line=line.line,
        custom_id=custom_id,
        text=encode_line(row),
        outcome=result.outcome.value,
        key=key,
        cost_usd=result.cost_usd,
        saved_usd=result.saved_usd,
        provider_called=result.provider_called,
        retryable=result.error.retryable if result.error is not None else None,
        usage=usage,
    )


def failed_result(job_id: str, custom_id: str, error: BaseException) -> JobResult:
    retryable = isinstance(error, BackendError)
    return JobResult(
        job_id=job_id,
        custom_id=custom_id,
        outcome=Outcome.ERROR,
        error=JobError(type=type(error).__name__, message=str(error), retryable=retryable),
    )


def lookup_in_groups(
    cache: LLMCache,
    parsed: Sequence[ParsedLine],
    stages: dict[str, float],
    vectors: Sequence[Vectors | None] | None = None,
) -> list[LookupResult]:
    """`lookup_many` for lines that look up (one call per threshold override, normally one); `miss_for` for
    no_cache lines. `vectors`: one per line (None: embed it)."""
    results: list[LookupResult | None] = [None] * len(parsed)
    by_threshold: dict[float | None, list[int]] = {}
    for i, item in enumerate(parsed):
        if item.job.overrides.no_cache:
            results[i] = cache.miss_for(item.job.request)
        else:
            by_threshold.setdefault(item.job.overrides.threshold, []).append(i)
    for threshold, members in by_threshold.items():
        given: list[Vectors | None] | None = None
        if vectors is not None:
            given = [vectors[i] for i in members]
        found = cache.lookup_many(
            [parsed[i].job.request for i in members], threshold=threshold, embeddings=given, stages=stages
        )
        for i, result in zip(members, found, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


@dataclass
class ChunkLookup:
    cache: LLMCache
    namespaces: frozenset[str]
    pricing: PricingTable
    recorder: MetricsRecorder | None = None
    embedder: tuple[str, int] | None = None
    clock: Callable[[], float] = time.perf_counter

    def run(self, chunk: LookupChunk, worker: str | None = None) -> ChunkResult:
        started = self.clock()
        fmt, defaults = chunk.run.fmt, chunk.run.defaults
        rules = LineRules(self.namespaces, self.pricing, chunk.run.max_prompt_chars)
        rows: list[Row] = []
        lines: list[ChunkLine] = []
        parsed: list[ParsedLine] = []
        for line in chunk.lines:
            item = parse_line(line.line, line.text, fmt, defaults, rules)
            if isinstance(item, LineError):
                rows.append(error_row(fmt, line, item.custom_id or line.custom_id, item.message))
            else:
                lines.append(line)
                parsed.append(item)
        stages: dict[str, float] = {"parse": self.clock() - started}
        misses: dict[str, MissInfo] = {}
        try:
            found = lookup_in_groups(self.cache, parsed, stages)
        except LLMCacheError as error:
            log.warning("batch_chunk_lookup_failed", chunk_id=chunk.chunk_id, error=str(error))
            for line, item in zip(lines, parsed, strict=True):
                rows.append(
                    result_row(fmt, line, item.custom_id, failed_result(item.job.job_id, item.custom_id, error))
                )
            return self._result(chunk, rows, [], stages, started=started, worker=worker)
        mark = self.clock()
        elapsed_ms = (mark - started) * 1000
        finished: list[tuple[str, str, JobResult]] = []
        for line, item, result in zip(lines, parsed, found, strict=True):
            if isinstance(result, Miss):
                assert result.request_key is not None
                info = misses.get(result.request_key)
                member = MissLine(line=line.line, custom_id=item.custom_id, digest=line.digest)
                if info is not None:
                    misses[result.request_key] = info.model_copy(update={"lines": [*info.lines, member]})
                    continue
                request, overrides = item.job.request, item.job.overrides
                policy = self.cache.policy(request.namespace)
                semantic = result.embedding is not None and result.context_fp is not None
                floor = policy.similarity_threshold if overrides.threshold is None else overrides.threshold
                misses[result.request_key] = MissInfo(
                    key=result.request_key,
                    lines=[member],
                    context_fp=result.context_fp,
                    text=semantic_text(request) if semantic else None,
                    vector=encode_vector(result.embedding) if semantic else None,
                    threshold=floor if semantic else None,
                    namespace=request.namespace,
                    looks_up=not overrides.no_cache,
                    waited=line.waited_on is not None,
                )
                continue
            hit = JobResult(
                job_id=item.job.job_id,
                custom_id=item.custom_id,
                # a line that waited on this run's leader and now hits its answer was coalesced, as a single job is
                outcome=Outcome.COALESCED if line.waited_on is not None else Outcome(result.kind.value),
                similarity=result.similarity,
                completion=result.entry.completion,
                saved_usd=result.entry.completion.cost_usd,
                latency_ms=elapsed_ms,
                entry_id=result.entry.entry_id,
            )
            rows.append(result_row(fmt, line, item.custom_id, hit))
            finished.append((item.job.request.namespace, item.job.request.model, hit))
        stages["format"] = self.clock() - mark
        mark = self.clock()
        self._record(finished)
        stages["metrics"] = self.clock() - mark
        return self._result(chunk, rows, list(misses.values()), stages, started=started, worker=worker)

    def _record(self, finished: list[tuple[str, str, JobResult]]) -> None:
        if self.recorder is None or not finished:
            return
        try:
            self.recorder.record_many(finished)
        except Exception as error:  # metrics never cost a line its answer
            log.warning("batch_metrics_failed", error=str(error))

    def _result(
        self,
        chunk: LookupChunk,
        rows: list[Row],
        misses: list[MissInfo],
        stages: dict[str, float],
        *,
        started: float,
        worker: str | None,
    ) -> ChunkResult:
        stages["total"] = self.clock() - started
        return ChunkResult(
            kind="lookup",
            chunk_id=chunk.chunk_id,
            attempt=chunk.attempt,
            rows=rows,
            misses=misses,
            stages=stages,
            embedder=self.embedder[0] if self.embedder else None,
            dimension=self.embedder[1] if self.embedder else None,
            worker=worker,
        )
