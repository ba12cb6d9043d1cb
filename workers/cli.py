"""The `llmcache` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared.config import load_settings
from shared.logging import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcache", description="Asynchronous, distributed LLM cache.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="exercise the cache core on the embedded default and print outcomes")
    demo.add_argument("--key-prefix", default="llmcache-demo", help="Redis key prefix for the demo's own keys")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json_output=not sys.stderr.isatty(), level="WARNING")
    if args.command == "demo":
        from workers.demo import run_demo

        settings = load_settings(key_prefix=args.key_prefix)
        settings.data_dir = settings.data_dir / "demo"
        return run_demo(settings)
    return 2


if __name__ == "__main__":
    sys.exit(main())
