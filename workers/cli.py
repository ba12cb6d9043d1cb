"""The `llmcache` command line. Every command has --help; errors name what is wrong and exit non-zero."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from llmcache.shared.config import Settings, load_settings
from llmcache.shared.logging import configure_logging

DURATION = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h, 7d")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcache", description="Asynchronous, distributed LLM cache.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _service_commands(commands)
    _job_commands(commands)
    _tool_commands(commands)
    return parser


def _service_commands(commands: Any) -> None:
    commands.add_parser("demo", help="the main job (make run): services, a worker cluster, an example batch twice")

    worker = commands.add_parser("worker", help="run a Celery worker (LLM jobs and maintenance)")
    worker.add_argument("--queues", default="llm,maintenance", help="comma-separated: llm, maintenance, metrics")
    worker.add_argument("--concurrency", type=int, help="threads or processes (default from settings)")
    worker.add_argument("--pool", choices=["threads", "prefork", "solo"], help="default from settings (threads)")

    commands.add_parser("beat", help="run the scheduler; a second beat waits on standby (one schedules at a time)")

    metrics = commands.add_parser("metrics", help="run the metrics worker and its Prometheus /metrics endpoint")
    metrics.add_argument("--port", type=int, help="Prometheus port (default from settings, 9464)")
    metrics.add_argument("--host", help="address to bind (default from settings, 127.0.0.1; 0.0.0.0 in a container)")

    emulator = commands.add_parser(
        "emulator", help="run the provider emulator (OpenAI + Anthropic wire formats; not a real provider)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    emulator.add_argument("--config", type=Path, help="JSON file of EmulatorConfig fields (answer book, faults, ...)")
    emulator.add_argument("--ttft-ms", type=float, help="time to first token")
    emulator.add_argument("--per-token-ms", type=float, help="time per output token")


def _job_commands(commands: Any) -> None:
    batch = commands.add_parser("batch", help="batch files").add_subparsers(dest="batch_command", required=True)
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
    from llmcache.workers.batch_api_cli import add_arguments as add_batch_api_arguments

    add_batch_api_arguments(run, batch)  # --via batch-api; batch status / batch cancel

    stats = commands.add_parser("stats", help="hit rates, latency, tokens and dollars per namespace/model")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--minutes", type=int, default=60)

    purge = commands.add_parser("purge", help="delete cached answers (bodies and vectors)")
    purge.add_argument("--id", action="append", dest="ids", help="an entry id (repeatable)")
    purge.add_argument("--namespace")
    purge.add_argument("--version", help="with --namespace: only this prompt version")
    purge.add_argument("--tenant")
    purge.add_argument("--user", help="with --tenant")
    purge.add_argument("--older-than", type=_duration, help="e.g. 30m, 12h, 7d")

    invalidate = commands.add_parser("invalidate", help="make a new prompt version current; old entries go")
    invalidate.add_argument("namespace")
    invalidate.add_argument("--version", required=True)

    warm = commands.add_parser("warm", help="enqueue intents that are not cached or expire soon (low priority)")
    warm.add_argument("path", type=Path, help="an intent file (<namespace>.txt|.jsonl) or a folder of them")


def _tool_commands(commands: Any) -> None:
    evaluate = commands.add_parser("eval", help="measure semantic-hit quality").add_subparsers(
        dest="eval_command", required=True
    )
    pairs = evaluate.add_parser("pairs", help="store every a, look up every b; precision, recall, false hits")
    pairs.add_argument("file", type=Path, help="JSONL or JSONL.gz with a, b, label (extra fields allowed)")
    pairs.add_argument("--threshold", type=float, help="cosine floor (default: the namespace's)")
    pairs.add_argument("--namespace", default="default", help="whose policy to apply")
    pairs.add_argument("--no-guard", action="store_true", help="cosine only, without the false-hit guard")
    pairs.add_argument("--no-verifier", action="store_true", help="the guard's rules only, without its verifier")
    pairs.add_argument("--no-pair-model", action="store_true", help="without the pair model (the verifier judges)")
    pairs.add_argument("--protocol", choices=("pairwise", "retrieval"), default="retrieval",
                       help="pairwise: each a in a scope of its own; retrieval: every a stored together")  # fmt: skip
    pairs.add_argument("--json", action="store_true")

    tune = commands.add_parser("tune", help="choose a threshold").add_subparsers(dest="tune_command", required=True)
    sweep = tune.add_parser("pairs", help="sweep the cosine floor, with and without the guard")
    sweep.add_argument("file", type=Path)
    sweep.add_argument("--target-precision", type=float, default=0.9)
    sweep.add_argument("--namespace", default="default")
    sweep.add_argument("--plot", type=Path, help="write the precision/recall curves as a PNG")
    sweep.add_argument("--protocol", choices=("pairwise", "retrieval"), default="retrieval")
    sweep.add_argument(
        "--write", action="store_true", help="write the recommended floor and verifier thresholds into the policy file"
    )

    train = commands.add_parser("train", help="train a model the cache ships").add_subparsers(
        dest="train_command", required=True
    )
    verifier = train.add_parser("verifier", help="fit the guard's learned pair verifier on labelled pairs")
    verifier.add_argument("file", type=Path, help="JSONL or JSONL.gz with a, b, label (e.g. qqp_pairs_train)")
    verifier.add_argument("--out", type=Path, help="model folder (default: the shipped one, shared/guard/data)")
    verifier.add_argument("--rounds", type=int, default=600, help="boosting rounds")
    verifier.add_argument("--seed", type=int, default=0)

    lint = commands.add_parser("lint-prompt", help="flag per-request content in a prompt's cacheable prefix")
    lint.add_argument("file", type=Path, help="a system prompt (text) or a request / batch file (JSON or JSONL)")

    migrate = commands.add_parser(
        "migrate-index", help="copy the embedded cache's vectors (Qdrant Edge shard) into a Qdrant server"
    )
    migrate.add_argument("--to", required=True, help="Qdrant server URL (http[s]://...), or a directory for "
                         "qdrant-client's local mode")  # fmt: skip
    migrate.add_argument("--collection", help="target collection (default from settings, llmcache)")
    migrate.add_argument("--batch", type=int, default=256, help="points per upsert")

    kv = commands.add_parser("kv-estimate", help="KV-cache memory of a self-hosted model (GQA aware)")
    kv.add_argument("--preset", help="one of the known model shapes (see --list)")
    kv.add_argument("--layers", type=int)
    kv.add_argument("--heads", type=int, help="attention (query) heads")
    kv.add_argument("--kv-heads", type=int, help="key/value heads (grouped-query attention); default = heads")
    kv.add_argument("--hidden", type=int, help="hidden size")
    kv.add_argument("--head-dim", type=int, help="default hidden / heads")
    kv.add_argument("--seq-len", type=int, default=4096)
    kv.add_argument("--batch", type=int, default=1)
    kv.add_argument("--dtype", default="fp16")
    kv.add_argument("--list", action="store_true", help="list the presets")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    service = args.command in ("worker", "beat", "metrics", "emulator")
    configure_logging(json_output=service or not sys.stderr.isatty(), level="INFO" if service else "WARNING")
    handlers = {
        "demo": _demo, "worker": _worker, "beat": _beat, "metrics": _metrics, "batch": _batch, "stats": _stats,
        "purge": _purge, "invalidate": _invalidate, "warm": _warm, "emulator": _emulator,
        "migrate-index": _migrate_index,
        "lint-prompt": _lint_prompt_command, "kv-estimate": _kv_estimate, "eval": _eval, "tune": _tune, "train": _train,
    }  # fmt: skip
    try:
        return int(handlers[args.command](args))
    except KeyboardInterrupt:
        return 130


def _settings() -> Settings:
    return load_settings()


def _demo(args: argparse.Namespace) -> int:
    from llmcache.workers.main_job import run_main_job

    return run_main_job()


def _worker(args: argparse.Namespace) -> int:
    from llmcache.workers.app import create_app

    settings = _settings()
    pool = args.pool or settings.workers.pool
    concurrency = args.concurrency or settings.workers.concurrency
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    embedded = not (settings.qdrant.url or settings.qdrant.location)
    if embedded and pool == "prefork" and concurrency > 1 and {"llm", "maintenance"} & set(queues):
        print(
            "worker: the embedded Qdrant Edge shard can be owned by one process only; use --pool threads "
            "(LLM calls are I/O bound) or set QDRANT_URL for a cluster",
            file=sys.stderr,
        )
        return 2
    if embedded and {"llm", "maintenance"} & set(queues):
        from llmcache.shared.errors import ShardInUseError
        from llmcache.shared.index.edge import claim_shard

        try:  # held for this process's life: a second worker on the same shard stops here, before `ready`
            claim_shard(settings.edge_shard_path)
        except ShardInUseError as error:
            print(f"worker: {error}", file=sys.stderr)
            return 2
    app = create_app(settings)
    name = f"llmcache-{'-'.join(queues)}-{os.getpid()}@%h"
    app.worker_main(
        ["worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool, "-n", name, "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"]
    )  # fmt: skip
    return 0


def _beat(args: argparse.Namespace) -> int:
    import signal
    import socket
    import threading

    import redis
    from celery.beat import Service
    from celery.signals import before_task_publish

    from llmcache.scheduler.single_beat import BeatLock, SingleBeat
    from llmcache.shared.redis_keys import Keyspace
    from llmcache.workers.app import create_app

    settings = _settings()
    # bounded waits: a Redis that hangs must not freeze the lock check that every tick depends on
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5.0, socket_connect_timeout=5.0)
    keyspace = Keyspace(settings.key_prefix)
    instance = f"{socket.gethostname()}:{os.getpid()}"
    lock = BeatLock(client, keyspace, settings.workers.beat_lock_seconds, instance)

    @before_task_publish.connect(weak=False)
    def _count(**_: Any) -> None:
        client.hincrby(keyspace.beat_published(), instance, 1)

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    app.loader.init_worker()
    app.finalize()

    class _CeleryTicker:  # Celery's own beat scheduler, opened only while this beat holds the lock
        def __init__(self) -> None:
            self._service = Service(app, schedule_filename=str(settings.data_dir / "beat-schedule"))

        def tick(self) -> float:
            return float(self._service.scheduler.tick())

        def close(self) -> None:
            self._service.scheduler.close()

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    SingleBeat(lock, _CeleryTicker).run(stop)
    return 0


def _metrics(args: argparse.Namespace) -> int:
    import redis
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    from llmcache.shared.redis_keys import Keyspace
    from llmcache.workers.app import QUEUES, create_app
    from llmcache.workers.metrics_endpoint import LLMCacheCollector, WorkerCensus

    settings = _settings()
    app = create_app(settings)
    census = WorkerCensus(app)
    client = redis.Redis.from_url(settings.redis_url)
    REGISTRY.register(LLMCacheCollector(client, Keyspace(settings.key_prefix), QUEUES, census))
    port = args.port if args.port is not None else settings.workers.metrics_port
    host = args.host if args.host is not None else settings.workers.metrics_host
    start_http_server(port, addr=host)
    census.start()
    print(f"llmcache metrics: Prometheus endpoint on http://{host}:{port}/metrics", flush=True)
    app.worker_main(
        ["worker", "-Q", "metrics", "-c", "1", "-P", "solo", "-n", f"llmcache-metrics-{os.getpid()}@%h",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    )  # fmt: skip
    return 0


def _batch(args: argparse.Namespace) -> int:
    from llmcache.workers import batch_api_cli

    if batch_api_cli.handles(args):  # --via batch-api, batch status, batch cancel
        return batch_api_cli.dispatch(args, _settings())
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
    except ValueError as error:
        print(f"batch run: {error}", file=sys.stderr)
        return 2
    try:
        batch = BatchSettings()
        chosen = {"chunk_size": args.chunk_size, "max_prompt_chars": args.max_prompt_chars}
        batch = BatchSettings.model_validate(batch.model_dump() | {k: v for k, v in chosen.items() if v is not None})
    except ValueError as error:
        print(f"batch run: {error}", file=sys.stderr)
        return 2
    client = LLMCacheClient(_settings())
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
    if summary.unfinished:
        return 1
    return 0


def _stats(args: argparse.Namespace) -> int:
    import redis

    from llmcache.shared.metrics import MetricsRollup, dumps_stats
    from llmcache.shared.redis_keys import Keyspace

    settings = _settings()
    rollup = MetricsRollup(redis.Redis.from_url(settings.redis_url), Keyspace(settings.key_prefix))
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


def _maintenance(task: str, *task_args: Any) -> int:
    from llmcache.workers.producer import LLMCacheClient

    client = LLMCacheClient(_settings())
    try:
        result = client.call(task, *task_args)
    finally:
        client.close()
    print(json.dumps(result))
    return 0


def _purge(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from llmcache.shared.errors import InvalidRequestError
    from llmcache.shared.models import PurgeSelector

    try:
        selector = PurgeSelector(
            ids=args.ids, namespace=args.namespace, version=args.version, tenant=args.tenant, user=args.user,
            older_than=datetime.now(UTC) - args.older_than if args.older_than else None,
        )  # fmt: skip
        kinds = [selector.ids, selector.tenant, selector.namespace, selector.older_than]
        if sum(k is not None for k in kinds) != 1:
            raise InvalidRequestError("purge", "give exactly one of --id, --tenant, --namespace or --older-than")
        if selector.version is not None and selector.namespace is None:
            raise InvalidRequestError("--version", "goes with --namespace")
        if selector.user is not None and selector.tenant is None:
            raise InvalidRequestError("--user", "goes with --tenant")
    except (ValidationError, InvalidRequestError) as error:
        print(f"purge: {error}", file=sys.stderr)
        return 2
    return _maintenance("llmcache.maintenance.purge", selector.model_dump(mode="json"))


def _invalidate(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.namespace not in settings.namespaces:
        known = ", ".join(sorted(settings.namespaces))
        print(f"invalidate: namespace {args.namespace!r} has no policy (known: {known})", file=sys.stderr)
        return 2
    return _maintenance("llmcache.maintenance.invalidate", args.namespace, args.version)


def _warm(args: argparse.Namespace) -> int:
    if not args.path.exists():
        print(f"warm: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    return _maintenance("llmcache.maintenance.warm_up", str(args.path.resolve()))


def _emulator(args: argparse.Namespace) -> int:
    from llmcache.testing.emulator.config import EmulatorConfig
    from llmcache.testing.emulator.server import serve_forever

    fields = json.loads(args.config.read_text()) if args.config else {}
    if args.ttft_ms is not None:
        fields["time_to_first_token_ms"] = args.ttft_ms
    if args.per_token_ms is not None:
        fields["per_output_token_ms"] = args.per_token_ms
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(EmulatorConfig.model_validate(fields), args.host, args.port, lambda line: print(line, flush=True))
    return 0


def _pairs_file_ok(path: Path, command: str) -> bool:
    if not path.is_file():
        print(f"{command}: {path}: no such file", file=sys.stderr)
        return False
    return True


def _eval(args: argparse.Namespace) -> int:
    from llmcache.quality.pairs import eval_pairs
    from llmcache.shared.errors import LLMCacheError

    if not _pairs_file_ok(args.file, "eval pairs"):
        return 2
    try:
        report, guard_us = eval_pairs(
            _settings(),
            args.file,
            args.namespace,
            threshold=args.threshold,
            guard=not args.no_guard,
            verifier=not args.no_verifier,
            pair_model=not (args.no_verifier or args.no_pair_model),
            protocol=args.protocol,
        )
    except LLMCacheError as error:
        print(f"eval pairs: {error}", file=sys.stderr)
        return 2
    if args.json:
        flags = {"guard": not args.no_guard, "verifier": not (args.no_guard or args.no_verifier)}
        print(json.dumps(report.model_dump() | flags | {"guard_us_per_candidate": guard_us}))
        return 0
    print(f"{args.file.name}: n={report.n} ({report.positives} positive, {report.negatives} negative), "
          f"guard {'off' if args.no_guard else 'rules only' if args.no_verifier else 'on'}")  # fmt: skip
    print(f"  protocol {report.protocol}: correct hits {report.correct_hits} ({report.identical_text_hits} on the "
          f"identical text), false hits {report.false_hits}, unlabelled hits {report.unlabelled_hits}, "
          f"missed positives {report.misses}")  # fmt: skip
    print(f"  precision {report.precision:.3f} (labelled only {report.precision_labelled:.3f})  "
          f"recall {report.recall:.3f}  false-hit rate {report.false_hit_rate:.3f}")  # fmt: skip
    print(f"  lookup {report.lookup_ms_mean:.2f} ms per pair (batched), guard {guard_us:.1f} us per candidate")
    for kind, stats in sorted(report.by_kind.items()):
        print(f"  {kind:<12} pairs {stats.pairs:>5}  hits {stats.hits:>5}  correct {stats.correct_hits:>5}  "
              f"false hits {stats.false_hits:>5}  unlabelled {stats.unlabelled_hits:>5}")  # fmt: skip
    return 0


def _tune(args: argparse.Namespace) -> int:
    from llmcache.quality.evaluation import GuardMode
    from llmcache.quality.pairs import plot, tune_pairs
    from llmcache.shared.errors import LLMCacheError

    if not _pairs_file_ok(args.file, "tune pairs"):
        return 2
    settings = _settings()
    target = args.target_precision
    try:
        result = tune_pairs(settings, args.file, args.namespace, target, protocol=args.protocol)
    except LLMCacheError as error:
        print(f"tune pairs: {error}", file=sys.stderr)
        return 2
    every: tuple[GuardMode, ...] = ("cosine", "rules", "rules+verifier", "rules+pair")
    modes = tuple(mode for mode in every if mode in result.by_floor)
    print(f"{'floor':>6} | " + " | ".join(f"{mode + ': P':>18} {'R':>6} {'FHR':>6}" for mode in modes))
    for rows in zip(*(result.by_floor[mode] for mode in modes), strict=True):
        cells = " | ".join(f"{r.precision:>18.3f} {r.recall:>6.3f} {r.false_hit_rate:>6.3f}" for r in rows)
        print(f"{rows[0].setting.floor:>6.2f} | {cells}")
    baseline, chosen = result.cosine_best, result.chosen
    if baseline is not None:
        print(f"cosine only: floor {baseline.setting.floor:.2f} meets precision {target} "
              f"with recall {baseline.recall:.3f}")  # fmt: skip
    else:
        print(f"cosine only: no floor reaches precision {target}")
    if chosen is None:
        best = max(result.grid, key=lambda r: (r.precision, r.recall))
        print(f"no setting reaches precision {target} with the guard; the most precise: "
              f"{best.setting.describe()}: precision {best.precision:.3f}, recall {best.recall:.3f}")  # fmt: skip
    else:
        print(f"recommended: guard on, {chosen.setting.describe()}: precision {chosen.precision:.3f}, "
              f"recall {chosen.recall:.3f}, false-hit rate {chosen.false_hit_rate:.3f}")  # fmt: skip
    if args.plot:
        plot(result, f"{args.file.name}: precision / recall by cosine floor", args.plot)
        print(f"plot: {args.plot}")
    if args.write and chosen is not None:
        path = settings.policy_file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        current = json.loads(path.read_text()) if path.exists() else {}
        written: dict[str, object] = {
            "similarity_threshold": chosen.setting.floor,
            "guard": True,
            "verifier": True,
        }
        if chosen.setting.mode == "rules+pair":
            written |= {
                "pair_model": True,
                "pair_accept_above": chosen.setting.pair_accept_above,
                "pair_reject_below": chosen.setting.pair_accept_above,
                "pair_rescue_above": chosen.setting.pair_rescue_above,
            }
        else:
            written |= {
                "pair_model": False,
                "verifier_veto_below": chosen.setting.veto_below,
                "verifier_rescue_above": chosen.setting.rescue_above,
            }
        current.setdefault(args.namespace, {}).update(written)
        path.write_text(json.dumps(current, indent=2) + "\n")
        print(f"wrote {written} for namespace {args.namespace!r} to {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from llmcache.quality.evaluation import load_pairs
    from llmcache.quality.verifier_training import train_verifier
    from llmcache.shared.embedding.minilm import MiniLMEmbedder
    from llmcache.shared.errors import LLMCacheError
    from llmcache.shared.guard.learned import DATA_DIR

    if not _pairs_file_ok(args.file, "train verifier"):
        return 2
    try:
        pairs = load_pairs(args.file)
    except LLMCacheError as error:
        print(f"train verifier: {error}", file=sys.stderr)
        return 2
    if len({p.label for p in pairs}) < 2:
        print(f"train verifier: {args.file} needs pairs of both labels", file=sys.stderr)
        return 2
    with tqdm(desc="embedding", unit="text") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        card = train_verifier(
            pairs,
            MiniLMEmbedder(batch_size=128),
            args.out or DATA_DIR,
            training_file=args.file.name,
            rounds=args.rounds,
            seed=args.seed,
            progress=progress,
        )
    print(f"trained on {card.training_pairs} pairs ({card.positives} positives), {card.boosting_rounds} rounds; "
          f"model sha256 {card.model_sha256[:16]}... in {args.out or DATA_DIR}")  # fmt: skip
    return 0


def _lint_prompt_command(args: argparse.Namespace) -> int:
    return _lint_prompt(args.file)


def _lint_prompt(path: Path) -> int:
    from pydantic import ValidationError

    from llmcache.shared.models import CacheRequest
    from llmcache.shared.providers.lint import lint_prefix_text, lint_request

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


def _migrate_index(args: argparse.Namespace) -> int:
    from qdrant_client import QdrantClient

    from llmcache.shared.errors import LLMCacheError
    from llmcache.shared.index.edge import EdgeVectorIndex
    from llmcache.shared.index.migrate import migrate_index
    from llmcache.shared.index.server import ServerVectorIndex

    settings = _settings()
    shard = settings.edge_shard_path
    if not shard.is_dir() or not any(shard.iterdir()):
        print(f"migrate-index: no embedded index at {shard} (set LLMCACHE_DATA_DIR or LLMCACHE_QDRANT__EDGE_PATH)",
              file=sys.stderr)  # fmt: skip
        return 2
    q = settings.qdrant
    if args.to.startswith(("http://", "https://")):
        client = QdrantClient(url=args.to, api_key=q.api_key.get_secret_value() if q.api_key else None)
    else:
        client = QdrantClient(path=args.to)
    collection = args.collection or q.collection
    # loaded, never created here (the directory has segments): the dimension is the shard's own
    source = EdgeVectorIndex(shard, dimension=0, hnsw_m=q.hnsw_m, hnsw_ef_construct=q.hnsw_ef_construct)
    try:
        report = migrate_index(
            source,
            lambda dimension: ServerVectorIndex(client, collection, dimension, q.hnsw_m, q.hnsw_ef_construct),
            batch=args.batch,
            progress=lambda copied: print(f"copied {copied} points", file=sys.stderr, flush=True),
        )
    except LLMCacheError as error:  # the shard in use by a worker, a server that refuses, ...
        print(f"migrate-index: {error}", file=sys.stderr)
        return 1
    finally:
        source.close()
        client.close()
    print(f"migrate-index: {report.copied} of {report.source_points} points copied from {shard} to "
          f"{args.to} collection {collection!r} (it now holds {report.target_points}); point the workers at it "
          "with QDRANT_URL")  # fmt: skip
    return 0 if report.copied == report.source_points else 1


def _kv_estimate(args: argparse.Namespace) -> int:
    from llmcache.quality.kv_estimate import PRESETS, ModelShape, human_bytes, kv_cache_bytes

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
