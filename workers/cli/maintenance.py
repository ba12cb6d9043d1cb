"""Maintenance of the stored answers: `purge`, `invalidate`, `warm` and `migrate-index`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmcache.workers.cli.common import call_maintenance, duration, settings

# PurgeSelector's fields as the flags that set them: its errors name fields, the command line shows flags
PURGE_FLAGS = {
    "ids": "--id",
    "tenant": "--tenant",
    "user": "--user",
    "namespace": "--namespace",
    "version": "--version",
    "older_than": "--older-than",
}
_PURGE_FIELD = re.compile(r"\b(" + "|".join(PURGE_FLAGS) + r")\b")


def add_purge(commands: Any) -> None:
    purge = commands.add_parser("purge", help="delete cached answers (bodies and vectors)")
    purge.add_argument("--id", action="append", dest="ids", help="an entry id (repeatable)")
    purge.add_argument("--namespace")
    purge.add_argument("--version", help="with --namespace: only this prompt version")
    purge.add_argument("--tenant")
    purge.add_argument("--user", help="with --tenant")
    purge.add_argument("--older-than", type=duration, help="e.g. 30m, 12h, 7d")
    purge.set_defaults(run=purge_command)


def add_invalidate(commands: Any) -> None:
    invalidate = commands.add_parser("invalidate", help="make a new prompt version current; old entries go")
    invalidate.add_argument("namespace")
    invalidate.add_argument("--version", required=True)
    invalidate.set_defaults(run=invalidate_command)


def add_warm(commands: Any) -> None:
    warm = commands.add_parser("warm", help="enqueue intents that are not cached or expire soon (low priority)")
    warm.add_argument("path", type=Path, help="an intent file (<namespace>.txt|.jsonl) or a folder of them")
    warm.set_defaults(run=warm_command)


def add_migrate_index(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate-index", help="copy the embedded cache's vectors (Qdrant Edge shard) into a Qdrant server"
    )
    migrate.add_argument("--to", required=True, help="Qdrant server URL (http[s]://...), or a directory for "
                         "qdrant-client's local mode")  # fmt: skip
    migrate.add_argument("--collection", help="target collection (default from settings, llmcache)")
    migrate.add_argument("--batch", type=int, default=256, help="points per upsert")
    migrate.set_defaults(run=migrate_index_command)


def purge_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from llmcache.shared.models import PurgeSelector

    try:  # the model holds the rule (exactly one selection, version with namespace, user with tenant)
        selector = PurgeSelector(
            ids=args.ids, namespace=args.namespace, version=args.version, tenant=args.tenant, user=args.user,
            older_than=datetime.now(UTC) - args.older_than if args.older_than else None,
        )  # fmt: skip
    except ValidationError as error:
        message = error.errors()[0]["msg"].removeprefix("selector: ")
        print(f"purge: {_PURGE_FIELD.sub(lambda match: PURGE_FLAGS[match.group(1)], message)}", file=sys.stderr)
        return 2
    return call_maintenance("llmcache.maintenance.purge", selector.model_dump(mode="json"))


def invalidate_command(args: argparse.Namespace) -> int:
    config = settings()
    if args.namespace not in config.namespaces:
        known = ", ".join(sorted(config.namespaces))
        print(f"invalidate: namespace {args.namespace!r} has no policy (known: {known})", file=sys.stderr)
        return 2
    return call_maintenance("llmcache.maintenance.invalidate", args.namespace, args.version)


def warm_command(args: argparse.Namespace) -> int:
    if not args.path.exists():
        print(f"warm: {args.path}: no such file or folder", file=sys.stderr)
        return 2
    return call_maintenance("llmcache.maintenance.warm_up", str(args.path.resolve()))


def migrate_index_command(args: argparse.Namespace) -> int:
    from qdrant_client import QdrantClient

    from llmcache.shared.errors import LLMCacheError
    from llmcache.shared.index.edge import EdgeVectorIndex
    from llmcache.shared.index.migrate import migrate_index
    from llmcache.shared.index.server import ServerVectorIndex

    config = settings()
    shard = config.edge_shard_path
    if not shard.is_dir() or not any(shard.iterdir()):
        print(f"migrate-index: no embedded index at {shard} (set LLMCACHE_DATA_DIR or LLMCACHE_QDRANT__EDGE_PATH)",
              file=sys.stderr)  # fmt: skip
        return 2
    q = config.qdrant
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
