"""Resume: what an earlier output already holds, keyed by custom_id and the digest of the line that produced it.

A line runs again when its custom_id has no output line, when the line changed (another digest), when its output
line is a retryable error, or, with `retry_errors`, any error. The output is rewritten without the lines that will
be written again (and without a partial last line of an interrupted write), so that each custom_id appears once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


def row_key(custom_id: str | None, line: int, duplicate_of: int | None = None) -> str:
    """An output line's identity: its custom_id; for a line without one, or a duplicate custom_id, its number."""
    if duplicate_of is not None:
        return f"#duplicate:{line}"
    return custom_id if custom_id is not None else f"#line:{line}"


@dataclass(frozen=True)
class Prior:
    digest: str | None
    ok: bool
    retryable: bool


def _prior(row: dict[str, Any]) -> tuple[str, Prior] | None:
    meta = row.get("llmcache")
    if not isinstance(meta, dict) or not isinstance(meta.get("line"), int) or meta.get("outcome") is None:
        return None
    custom_id = row.get("custom_id")
    key = row_key(custom_id if isinstance(custom_id, str) else None, meta["line"], meta.get("duplicate_of"))
    ok = meta["outcome"] != "error"
    return key, Prior(meta.get("digest"), ok, bool(meta.get("retryable")))


@dataclass
class ResumePlan:
    done: set[str]  # keys whose output line stays
    kept: int = 0
    rerun_changed: int = 0
    rerun_errors: int = 0


def plan_resume(output: Path, current: Mapping[str, str], *, retry_errors: bool) -> ResumePlan:
    """`current`: key -> digest of every line of the input. Rewrites `output` to the lines that stay."""
    plan = ResumePlan(done=set())
    if not output.exists():
        return plan
    priors: dict[str, Prior] = {}
    with output.open(encoding="utf-8", errors="replace") as source:
        for text in source:
            try:
                found = _prior(orjson.loads(text))
            except json.JSONDecodeError:
                continue
            if found is not None:
                priors[found[0]] = found[1]
    for key, prior in priors.items():
        digest = current.get(key)
        if digest is None:
            continue
        if prior.digest != digest:
            plan.rerun_changed += 1
        elif not prior.ok and (prior.retryable or retry_errors):
            plan.rerun_errors += 1
        else:
            plan.done.add(key)
    temporary = output.with_suffix(output.suffix + ".tmp")
    seen: set[str] = set()
    with output.open(encoding="utf-8", errors="replace") as source, temporary.open("w", encoding="utf-8") as target:
        for text in source:
            try:
                found = _prior(orjson.loads(text))
            except json.JSONDecodeError:
                continue
            if found is not None and found[0] in plan.done and found[0] not in seen:
                seen.add(found[0])
                target.write(text if text.endswith("\n") else text + "\n")
                plan.kept += 1
    os.replace(temporary, output)
    return plan
