"""What both Batch API emulations share: which requests fault, expire or are answered, and when a batch moves on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from llmcache.testing.emulator.answers import normalise_question
from llmcache.testing.emulator.chat import last_user_text
from llmcache.testing.emulator.state import EmulatorState


def requested_fault(state: EmulatorState, custom_id: str, body: Any) -> str | None:
    """The configured fault of one batched request, by its custom_id or its last user message."""
    faults = state.config.batch_request_faults
    if not faults:
        return None
    if custom_id in faults:
        return faults[custom_id]
    messages = body.get("messages") if isinstance(body, dict) else None
    if isinstance(messages, list):
        question = normalise_question(last_user_text([m for m in messages if isinstance(m, dict)]))
        return faults.get(question)
    return None


def answered_count(state: EmulatorState, total: int) -> int:
    """How many of a batch's requests finish before the completion window runs out (the rest expire)."""
    fraction = state.config.batch_expire_fraction
    return total - round(total * fraction) if fraction else total


def may_finish(state: EmulatorState, started_at: float, now: float) -> bool:
    """An in-progress batch's requests are answered once the completion delay has passed (and, with
    `batch_hold`, once the test has released held batches)."""
    if state.config.batch_hold and not state.batches_released.is_set():
        return False
    return now >= started_at + state.config.batch_completion_seconds


def shuffled(state: EmulatorState, rows: Sequence[Any]) -> list[Any]:
    """Results in no particular order, as both providers document (seeded: runs repeat)."""
    out = list(rows)
    with state.lock:
        state.rng.shuffle(out)
    return out


def now() -> float:
    return time.time()
