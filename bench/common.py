"""Helpers shared by the benchmarks: machine facts, percentiles, and writing a section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SHARED_DATA = ROOT.parent / "shared" / "data"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("onnxruntime", "qdrant-edge-py", "qdrant-client", "redis")
    )
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()} ({versions})"
    )


def percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    if not samples_s:
        return float("nan"), float("nan")
    values = np.asarray(samples_s) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def write_section(name: str, body: str) -> None:
    """Replace (or append) the block between <!-- bench:NAME --> markers in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nWritten by `make bench`; numbers, not assertions.\n"
    block = f"<!-- bench:{name} -->\n{body.rstrip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    DOC.write_text(text)


def quiet_logging() -> None:
    """Warnings only: a debug line per guarded candidate would be timed with the lookups and drown the output."""
    from llmcache.shared.logging import configure_logging

    configure_logging(json_output=False, level="WARNING")
