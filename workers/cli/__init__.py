"""The `llmcache` command line. Every command has --help; errors name what is wrong and exit non-zero.

One module per command group registers its sub-commands (each parser's `run` default is its command function) and
holds those functions, which read the arguments and call into the core and the workers:
- `services`: demo, worker, beat, metrics, emulator
- `jobs`: batch (run, status, cancel), stats
- `maintenance`: purge, invalidate, warm, migrate-index
- `quality`: eval, tune, train, kv-estimate
- `prompts`: lint-prompt
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from llmcache.shared.logging import configure_logging
from llmcache.workers.cli import jobs, maintenance, prompts, quality, services

__all__ = ["build_parser", "main"]

# in the order `llmcache --help` lists them
COMMANDS: tuple[Callable[[Any], None], ...] = (
    services.add_demo,
    services.add_worker,
    services.add_beat,
    services.add_metrics,
    services.add_emulator,
    jobs.add_batch,
    jobs.add_stats,
    maintenance.add_purge,
    maintenance.add_invalidate,
    maintenance.add_warm,
    quality.add_eval,
    quality.add_tune,
    quality.add_train,
    prompts.add_lint_prompt,
    maintenance.add_migrate_index,
    quality.add_kv_estimate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcache", description="Asynchronous, distributed LLM cache.")
    parser.set_defaults(service=False)  # services log JSON at INFO; one-shot commands log at WARNING
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(json_output=args.service or not sys.stderr.isatty(), level="INFO" if args.service else "WARNING")
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
