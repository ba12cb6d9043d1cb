"""The `llmcache` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import load_settings
from shared.logging import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcache", description="Asynchronous, distributed LLM cache.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="exercise the cache core on the embedded default and print outcomes")
    demo.add_argument("--key-prefix", default="llmcache-demo", help="Redis key prefix for the demo's own keys")

    emulator = commands.add_parser(
        "emulator", help="run the provider emulator (OpenAI + Anthropic wire formats; not a real provider)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    emulator.add_argument("--config", type=Path, help="JSON file of EmulatorConfig fields (answer book, faults, ...)")
    emulator.add_argument("--ttft-ms", type=float, help="time to first token")
    emulator.add_argument("--per-token-ms", type=float, help="time per output token")

    lint = commands.add_parser("lint-prompt", help="flag per-request content in a prompt's cacheable prefix")
    lint.add_argument("file", type=Path, help="a system prompt (text) or a request / batch file (JSON or JSONL)")

    kv = commands.add_parser("kv-estimate", help="KV-cache memory of a self-hosted model (GQA aware)")
    kv.add_argument("--preset", help="one of the known model shapes (see --list)")
    kv.add_argument("--layers", type=int)
    kv.add_argument("--heads", type=int, help="attention (query) heads")
    kv.add_argument("--kv-heads", type=int, help="key/value heads (grouped-query attention); default = heads")
    kv.add_argument("--hidden", type=int, help="hidden size")
    kv.add_argument("--head-dim", type=int, help="default hidden / heads")
    kv.add_argument("--seq-len", type=int, required=False, default=4096)
    kv.add_argument("--batch", type=int, default=1)
    kv.add_argument("--dtype", default="fp16")
    kv.add_argument("--list", action="store_true", help="list the presets")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(json_output=not sys.stderr.isatty(), level="INFO" if args.command == "emulator" else "WARNING")
    if args.command == "demo":
        from workers.demo import run_demo

        settings = load_settings(key_prefix=args.key_prefix)
        settings.data_dir = settings.data_dir / "demo"
        return run_demo(settings)
    if args.command == "emulator":
        return _emulator(args)
    if args.command == "lint-prompt":
        return _lint_prompt(args.file)
    if args.command == "kv-estimate":
        return _kv_estimate(args)
    return 2


def _emulator(args: argparse.Namespace) -> int:
    from shared.emulator.config import EmulatorConfig
    from shared.emulator.server import serve_forever

    fields = json.loads(args.config.read_text()) if args.config else {}
    if args.ttft_ms is not None:
        fields["time_to_first_token_ms"] = args.ttft_ms
    if args.per_token_ms is not None:
        fields["per_output_token_ms"] = args.per_token_ms
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(EmulatorConfig.model_validate(fields), args.host, args.port, lambda line: print(line, flush=True))
    return 0


def _lint_prompt(path: Path) -> int:
    from pydantic import ValidationError

    from shared.models import CacheRequest
    from shared.providers.lint import lint_prefix_text, lint_request

    if not path.is_file():
        print(f"lint-prompt: {path}: no such file", file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8")
    findings: list[tuple[str, object]] = []
    if path.suffix in (".json", ".jsonl"):
        for number, line in enumerate(text.splitlines() if path.suffix == ".jsonl" else [text], start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                body = raw.get("body") or raw.get("params") or raw  # OpenAI / Anthropic batch lines, or a request
                request = CacheRequest.model_validate(
                    {"provider": "openai", "model": "lint", **{k: body[k] for k in ("system", "messages") if k in body}}
                    | {"params": {"tools": body["tools"]} if "tools" in body else {}}
                )
            except (json.JSONDecodeError, ValidationError, AttributeError) as error:
                print(f"lint-prompt: {path}:{number}: cannot read a request: {error}", file=sys.stderr)
                return 2
            findings += [(f"{path}:{number}", f) for f in lint_request(request)]
    else:
        findings = [(str(path), f) for f in lint_prefix_text(text, "prompt")]
    for where, finding in findings:
        print(f"{where}: {finding}")
    print(f"{len(findings)} finding(s)" if findings else "no per-request content found in the cacheable prefix")
    return 1 if findings else 0


def _kv_estimate(args: argparse.Namespace) -> int:
    from shared.kv_cache import PRESETS, ModelShape, human_bytes, kv_cache_bytes

    if args.list:
        for name, shape in PRESETS.items():
            print(f"{name}: {shape.model_dump(exclude_none=True)}")
        return 0
    if args.preset:
        if args.preset not in PRESETS:
            print(f"kv-estimate: unknown preset {args.preset!r}; known: {', '.join(PRESETS)}", file=sys.stderr)
            return 2
        shape = PRESETS[args.preset]
    else:
        missing = [
            flag
            for flag, value in (("--layers", args.layers), ("--heads", args.heads), ("--hidden", args.hidden))
            if value is None
        ]
        if missing:
            print(f"kv-estimate: give --preset or {', '.join(missing)}", file=sys.stderr)
            return 2
        shape = ModelShape(
            layers=args.layers,
            attention_heads=args.heads,
            kv_heads=args.kv_heads,
            hidden_size=args.hidden,
            head_dim=args.head_dim,
        )
    try:
        total = kv_cache_bytes(shape, args.seq_len, args.batch, args.dtype)
    except ValueError as error:
        print(f"kv-estimate: {error}", file=sys.stderr)
        return 2
    print(
        f"KV cache: 2 x {shape.layers} layers x {shape.effective_kv_heads} kv heads x {shape.effective_head_dim} "
        f"head dim x {args.seq_len} tokens x batch {args.batch} x {args.dtype} = {human_bytes(total)} ({total:,} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
