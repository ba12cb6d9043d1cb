"""What the command modules share: settings, argument types, file checks and the maintenance-task call."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmcache.shared.config import Settings, load_settings

DURATION = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def settings() -> Settings:
    return load_settings()


def duration(text: str) -> timedelta:
    """An argparse type: 30m, 12h, 7d, ..."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h, 7d")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def file_exists(path: Path, command: str) -> bool:
    """False, and the command's error on stderr, when `path` is not a file."""
    if not path.is_file():
        print(f"{command}: {path}: no such file", file=sys.stderr)
        return False
    return True


def call_maintenance(task: str, *task_args: Any) -> int:
    """Run a maintenance task on the workers, wait for it and print its JSON result."""
    from llmcache.workers.producer import LLMCacheClient

    client = LLMCacheClient(settings())
    try:
        result = client.call(task, *task_args)
    finally:
        client.close()
    print(json.dumps(result))
    return 0
