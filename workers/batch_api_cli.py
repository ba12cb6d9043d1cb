"""The CLI bits of answering misses through the providers' Batch APIs: `batch run ... --via batch-api`,
`batch status OUT` and `batch cancel OUT` (hooked into `llmcache.workers.cli` by two calls)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmcache.shared.config import Settings


def add_arguments(run: argparse.ArgumentParser, batch: Any) -> None:
    """`--via` (and `--retry-errors`, `--poll-max-seconds`) on `batch run`; the `status` and `cancel` commands."""
    run.add_argument(
        "--via",
        choices=("sync", "batch-api"),
        default="sync",
        help="how misses are answered: sync SDK calls (default) or the providers' Batch APIs (50%% price, <= 24 h)",
    )
    if "--retry-errors" not in run._option_string_actions:
        run.add_argument("--retry-errors", action="store_true", help="run lines whose earlier result was an error")
    run.add_argument("--poll-max-seconds", type=float, default=60.0, help="longest wait between Batch API checks")
    run.add_argument("--chunk", type=int, default=500, help="--via batch-api: lines per worker lookup task")
    status = batch.add_parser("status", help="progress of the provider Batch API jobs of an output file")
    status.add_argument("output", type=Path)
    cancel = batch.add_parser("cancel", help="cancel the provider Batch API jobs of an output file")
    cancel.add_argument("output", type=Path)


def handles(args: argparse.Namespace) -> bool:
    return args.batch_command in ("status", "cancel") or getattr(args, "via", "sync") == "batch-api"


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from llmcache.shared.providers.batch_api.factory import build_batch_clients

    clients = build_batch_clients(settings)
    if args.batch_command == "status":
        return _status(clients, args.output)
    if args.batch_command == "cancel":
        return _cancel(clients, args.output)
    return _run(args, settings, clients)


def _status(clients: Any, output: Path) -> int:
    from llmcache.workers.via_batch_api import state_path, status

    if not state_path(output).exists():
        print(f"batch status: {output}: no provider Batch API jobs recorded ({state_path(output)})", file=sys.stderr)
        return 2
    for recorded, progress in status(clients, output):
        state = "collected" if recorded.collected else "waiting"
        print(
            f"{progress.provider:<9} {progress.batch_id:<40} {progress.status:<11} "
            f"{progress.done:>6}/{progress.total:<6} done, {progress.failed} failed ({state})"
        )
    return 0


def _cancel(clients: Any, output: Path) -> int:
    from llmcache.workers.via_batch_api import cancel, state_path

    if not state_path(output).exists():
        print(f"batch cancel: {output}: no provider Batch API jobs recorded", file=sys.stderr)
        return 2
    for progress in cancel(clients, output):
        print(f"{progress.provider:<9} {progress.batch_id:<40} {progress.status}")
    print("run `llmcache batch run` again to collect what was answered; cancelled requests become retryable errors")
    return 0


def _run(args: argparse.Namespace, settings: Settings, clients: Any) -> int:
    from llmcache.shared.providers.batch_api.base import PollPolicy
    from llmcache.shared.providers.pricing import PricingTable
    from llmcache.workers.batch.formats import LineOptions
    from llmcache.workers.producer import LLMCacheClient
    from llmcache.workers.via_batch_api import RunOptions, describe, run_via_batch_api

    if not args.input.is_file():
        print(f"batch run: {args.input}: no such file", file=sys.stderr)
        return 2
    try:
        defaults = LineOptions(
            namespace=args.namespace,
            tenant=args.tenant,
            user=args.user,
            no_cache=args.no_cache or None,
            no_store=args.no_store or None,
            ttl_seconds=args.ttl,
            threshold=args.threshold,
        )
        poll = PollPolicy(initial_seconds=min(1.0, args.poll_max_seconds), max_seconds=args.poll_max_seconds)
    except ValueError as error:
        print(f"batch run: {error}", file=sys.stderr)
        return 2
    client = LLMCacheClient(settings)
    try:
        summary = run_via_batch_api(
            client.app,
            clients,
            PricingTable.load(settings.providers.pricing_file),
            (args.input, args.output),
            defaults=defaults,
            options=RunOptions(retry_errors=args.retry_errors, chunk=args.chunk, timeout=args.timeout, poll=poll),
        )
    finally:
        client.close()
    print(describe(summary))
    return 0
