"""What the emulator served, so tests can assert how many provider calls happened and what they cost.

Every answered request counts under `by_model` (calls and tokens); requests answered inside a Batch API job count
under `batch_requests` too, and their dollars are at the batch price (`usd` per model, `usd_total`, `usd_batch`).
`batches` lists every batch job created: provider, id, model (OpenAI) and its number of requests.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


class EmulatorStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._usd: dict[str, float] = defaultdict(float)
        self._usd_batch = 0.0
        self._by_endpoint: dict[str, int] = defaultdict(int)
        self._faults: dict[str, int] = defaultdict(int)
        self._batches: list[dict[str, Any]] = []
        self._rejected = 0

    def record_call(self, endpoint: str, model: str, *, usd: float = 0.0, batch: bool = False, **tokens: int) -> None:
        with self._lock:
            self._by_endpoint[f"batch:{endpoint}" if batch else endpoint] += 1
            row = self._by_model[model]
            row["calls"] += 1
            if batch:
                row["batch_requests"] += 1
                self._usd_batch += usd
            for name, value in tokens.items():
                row[name] += value
            self._usd[model] += usd

    def record_batch(self, provider: str, batch_id: str, requests: int, model: str | None = None) -> None:
        with self._lock:
            self._batches.append({"provider": provider, "id": batch_id, "model": model, "requests": requests})

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_rejected(self) -> None:
        with self._lock:
            self._rejected += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_model: dict[str, dict[str, Any]] = {model: dict(row) for model, row in self._by_model.items()}
            for model, usd in self._usd.items():
                by_model.setdefault(model, {})["usd"] = usd
            return {
                "emulator": "llmcache provider emulator (not a real provider)",
                "calls": sum(self._by_endpoint.values()),
                "by_endpoint": dict(self._by_endpoint),
                "by_model": by_model,
                "usd_total": sum(self._usd.values()),
                "usd_batch": self._usd_batch,
                "batches": [dict(b) for b in self._batches],
                "faults": dict(self._faults),
                "rejected": self._rejected,
            }

    def reset(self) -> None:
        with self._lock:
            self._by_model.clear()
            self._usd.clear()
            self._usd_batch = 0.0
            self._by_endpoint.clear()
            self._faults.clear()
            self._batches.clear()
            self._rejected = 0
