"""What the emulator served, so tests can assert how many provider calls happened."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


class EmulatorStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._by_endpoint: dict[str, int] = defaultdict(int)
        self._faults: dict[str, int] = defaultdict(int)
        self._rejected = 0

    def record_call(self, endpoint: str, model: str, **tokens: int) -> None:
        with self._lock:
            self._by_endpoint[endpoint] += 1
            row = self._by_model[model]
            row["calls"] += 1
            for name, value in tokens.items():
                row[name] += value

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_rejected(self) -> None:
        with self._lock:
            self._rejected += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "emulator": "llmcache provider emulator (not a real provider)",
                "calls": sum(self._by_endpoint.values()),
                "by_endpoint": dict(self._by_endpoint),
                "by_model": {model: dict(row) for model, row in self._by_model.items()},
                "faults": dict(self._faults),
                "rejected": self._rejected,
            }

    def reset(self) -> None:
        with self._lock:
            self._by_model.clear()
            self._by_endpoint.clear()
            self._faults.clear()
            self._rejected = 0
