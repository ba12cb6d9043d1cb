"""Work sent to the workers and its numbers: `batch run` (with `batch status` / `batch cancel`) and `stats`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmcache.workers.cli.common import settings


def add_batch(commands: Any) -> None:
    from llmcache.workers.batch_api_cli import add_arguments as add_batch_api_arguments

    batch_parser = commands.add_parser("batch", help="batch files")
    batch_parser.set_defaults(run=batch_command)
    batch = batch_parser.add_subparsers(dest="batch_command", required=True)
    run = batch.add_parser("run", help="run an OpenAI or Anthropic batch file through the cache")
    run.add_argument("input", type=Path)
    run.add_argument("-o", "--output", type=Path, required=True, help="results (JSONL); re-run to resume")
    run.add_argument("--namespace")
    run.add_argument("--tenant")
    run.add_argument("--user")
    run.add_argument("--no-cache", action="store_true", help="skip lookups (answers are still stored)")
    run.add_argument("--no-store", action="store_true", help="do not store new answers")
    run.add_argument("--ttl", type=int, help="TTL in seconds for new answers")
    run.add_argument("--threshold", type=float, help="semantic threshold for this run")
    run.add_argument("--window", type=int, help="lines in lookup chunks in flight at once (default 2 chunks)")
    run.add_argument("--timeout", type=float, default=900.0,
                     help="seconds a chunk may take once sent; then its lines are retryable error lines")  # fmt: skip
    run.add_argument("--chunk-size", type=int, help="lines per lookup chunk (default 256, LLMCACHE_BATCH__CHUNK_SIZE)")
    run.add_argument("--ordered", action="store_true", help="write output lines in input order (default: as done)")
    run.add_argument("--retry-errors", action="store_true",
                     help="resume: run every line with an error output again (default: retryable ones)")  # fmt: skip
    run.add_argument("--max-prompt-chars", type=int, help="refuse longer prompts (LLMCACHE_BATCH__MAX_PROMPT_CHARS)")
    run.add_argument("--no-progress", action="store_true")
    add_batch_api_arguments(run, batch)  # --via batch-api; batch status / batch cancel


def add_stats(commands: Any) -> None:
    stats = commands.add_parser("stats", help="hit rates, latency, tokens and dollars per namespace/model")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--minutes", type=int, default=60)
    stats.set_defaults(run=stats_command)


def batch_command(args: argparse.Namespace) -> int:
    from llmcache.workers import batch_api_cli

    if batch_api_cli.handles(args):  # --via batch-api, batch status, batch cancel
        return batch_api_cli.dispatch(args, settings())
    from llmcache.workers.batch.formats import LineOptions
    from llmcache.workers.batch.runner import TRANSIENT as TRANSIENT_BATCH_ERRORS
    from llmcache.workers.batch.runner import describe, run_batch
    from llmcache.workers.batch.settings import BatchSettings
    from llmcache.workers.producer import LLMCacheClient

    if not args.input.is_file():
        print(f"batch run: {args.input}: no such file", file=sys.stderr)
        return 2
    try:
        defaults = LineOptions(
            namespace=args.namespace, tenant=args.tenant, user=args.user, no_cache=args.no_cache or None,
            no_store=args.no_store or None, ttl_seconds=args.ttl, threshold=args.threshold,
        )  # fmt: skip
        chosen = {"chunk_size": args.chunk_size, "max_prompt_chars": args.max_prompt_chars}
        batch = BatchSettings.model_validate(
            BatchSettings().model_dump() | {k: v for k, v in chosen.items() if v is not None}
        )
    except ValueError as error:
        print(f"batch run: {error}", file=sys.stderr)
        return 2
    client = LLMCacheClient(settings())
    try:
        summary = run_batch(
            client, args.input, args.output, defaults, batch=batch, window=args.window, timeout=args.timeout,
            progress=not args.no_progress, ordered=args.ordered, retry_errors=args.retry_errors,
        )  # fmt: skip
    except TRANSIENT_BATCH_ERRORS as error:
        print(f"batch run: could not finish {args.input}: {error}; re-run to resume", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(describe(summary))
    return 1 if summary.unfinished else 0


def stats_command(args: argparse.Namespace) -> int:
    import redis

    from llmcache.shared.metrics import MetricsRollup, dumps_stats
    from llmcache.shared.redis_keys import Keyspace

    config = settings()
    rollup = MetricsRollup(redis.Redis.from_url(config.redis_url), Keyspace(config.key_prefix))
    if args.json:  # read-only: rows not rolled up yet are computed, not written
        print(dumps_stats(rollup, args.minutes))
        return 0
    rows = rollup.report(minutes=args.minutes)
    if not rows:
        print(f"no jobs in the last {args.minutes} minutes")
        return 0
    print(f"{'minute (UTC)':<17} {'namespace':<10} {'model':<20} {'req':>5} {'hit%':>6} {'exact':>5} {'sem':>4} "
          f"{'coal':>4} {'miss':>4} {'hit p50':>8} {'miss p50':>9} {'spent $':>9} {'saved $':>9}")  # fmt: skip
    for row in rows:
        c = row.counters
        minute = datetime.fromtimestamp(row.minute * 60, UTC).strftime("%Y-%m-%d %H:%M")
        hit_p50 = f"{row.hit_latency_p50_ms:.1f}" if row.hit_latency_p50_ms is not None else "-"
        miss_p50 = f"{row.miss_latency_p50_ms:.1f}" if row.miss_latency_p50_ms is not None else "-"
        print(f"{minute:<17} {row.namespace:<10} {row.model[:20]:<20} {int(c['requests']):>5} {row.hit_rate:>6.1%} "
              f"{int(c['exact']):>5} {int(c['semantic']):>4} {int(c['coalesced']):>4} {int(c['miss']):>4} "
              f"{hit_p50:>8} {miss_p50:>9} {c['spent_usd']:>9.4f} {c['saved_usd']:>9.4f}")  # fmt: skip
    for alert in rollup.alerts():
        print(
            f"ALERT {alert.namespace}: hit rate {alert.recent_hit_rate:.1%} vs baseline {alert.baseline_hit_rate:.1%}"
        )
    return 0
