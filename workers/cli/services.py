"""Long-running services: `demo`, `worker`, `beat`, `metrics` and `emulator`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from llmcache.workers.cli.common import settings

CELERY_WORKER_FLAGS = ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]


def add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="the main job (make run): services, a worker cluster, an example batch twice"
    )
    demo.set_defaults(run=demo_command)


def add_worker(commands: Any) -> None:
    worker = commands.add_parser("worker", help="run a Celery worker (LLM jobs and maintenance)")
    worker.add_argument("--queues", default="llm,maintenance", help="comma-separated: llm, maintenance, metrics")
    worker.add_argument("--concurrency", type=int, help="threads or processes (default from settings)")
    worker.add_argument("--pool", choices=["threads", "prefork", "solo"], help="default from settings (threads)")
    worker.set_defaults(run=worker_command, service=True)


def add_beat(commands: Any) -> None:
    beat = commands.add_parser(
        "beat", help="run the scheduler; a second beat waits on standby (one schedules at a time)"
    )
    beat.set_defaults(run=beat_command, service=True)


def add_metrics(commands: Any) -> None:
    metrics = commands.add_parser("metrics", help="run the metrics worker and its Prometheus /metrics endpoint")
    metrics.add_argument("--port", type=int, help="Prometheus port (default from settings, 9464)")
    metrics.add_argument("--host", help="address to bind (default from settings, 127.0.0.1; 0.0.0.0 in a container)")
    metrics.set_defaults(run=metrics_command, service=True)


def add_emulator(commands: Any) -> None:
    emulator = commands.add_parser(
        "emulator", help="run the provider emulator (OpenAI + Anthropic wire formats; not a real provider)"
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    emulator.add_argument("--config", type=Path, help="JSON file of EmulatorConfig fields (answer book, faults, ...)")
    emulator.add_argument("--ttft-ms", type=float, help="time to first token")
    emulator.add_argument("--per-token-ms", type=float, help="time per output token")
    emulator.set_defaults(run=emulator_command, service=True)


def demo_command(args: argparse.Namespace) -> int:
    from llmcache.workers.main_job import run_main_job

    return run_main_job()


def worker_command(args: argparse.Namespace) -> int:
    from llmcache.workers.app import create_app

    config = settings()
    pool = args.pool or config.workers.pool
    concurrency = args.concurrency or config.workers.concurrency
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    embedded = not (config.qdrant.url or config.qdrant.location)
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
            claim_shard(config.edge_shard_path)
        except ShardInUseError as error:
            print(f"worker: {error}", file=sys.stderr)
            return 2
    app = create_app(config)
    name = f"llmcache-{'-'.join(queues)}-{os.getpid()}@%h"
    app.worker_main(
        ["worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool, "-n", name, *CELERY_WORKER_FLAGS]
    )
    return 0


def beat_command(args: argparse.Namespace) -> int:
    import signal
    import socket
    import threading

    import redis
    from celery.beat import Service
    from celery.signals import before_task_publish

    from llmcache.scheduler.single_beat import BeatLock, SingleBeat
    from llmcache.shared.redis_keys import Keyspace
    from llmcache.workers.app import create_app

    config = settings()
    # bounded waits: a Redis that hangs must not freeze the lock check that every tick depends on
    client = redis.Redis.from_url(config.redis_url, socket_timeout=5.0, socket_connect_timeout=5.0)
    keyspace = Keyspace(config.key_prefix)
    instance = f"{socket.gethostname()}:{os.getpid()}"
    lock = BeatLock(client, keyspace, config.workers.beat_lock_seconds, instance)

    @before_task_publish.connect(weak=False)
    def _count(**_: Any) -> None:
        client.hincrby(keyspace.beat_published(), instance, 1)

    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    app.loader.init_worker()
    app.finalize()

    class _CeleryTicker:  # Celery's own beat scheduler, opened only while this beat holds the lock
        def __init__(self) -> None:
            self._service = Service(app, schedule_filename=str(config.data_dir / "beat-schedule"))

        def tick(self) -> float:
            return float(self._service.scheduler.tick())

        def close(self) -> None:
            self._service.scheduler.close()

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    SingleBeat(lock, _CeleryTicker).run(stop)
    return 0


def metrics_command(args: argparse.Namespace) -> int:
    import redis
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    from llmcache.shared.redis_keys import Keyspace
    from llmcache.workers.app import QUEUES, create_app
    from llmcache.workers.metrics_endpoint import LLMCacheCollector, WorkerCensus

    config = settings()
    app = create_app(config)
    census = WorkerCensus(app)
    client = redis.Redis.from_url(config.redis_url)
    REGISTRY.register(LLMCacheCollector(client, Keyspace(config.key_prefix), QUEUES, census))
    port = args.port if args.port is not None else config.workers.metrics_port
    host = args.host if args.host is not None else config.workers.metrics_host
    start_http_server(port, addr=host)
    census.start()
    print(f"llmcache metrics: Prometheus endpoint on http://{host}:{port}/metrics", flush=True)
    name = f"llmcache-metrics-{os.getpid()}@%h"
    app.worker_main(["worker", "-Q", "metrics", "-c", "1", "-P", "solo", "-n", name, *CELERY_WORKER_FLAGS])
    return 0


def emulator_command(args: argparse.Namespace) -> int:
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
