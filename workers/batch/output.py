"""The output file: each line appended as soon as it is known (the providers' batch outputs are unordered too;
join on custom_id), or with `ordered` in input order (lines that finish early wait in memory for those before)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType


class OutputWriter:
    def __init__(
        self, path: Path, *, ordered: bool = False, order: Iterable[int] = (), flush_seconds: float = 0.2
    ) -> None:
        self._file = path.open("a", encoding="utf-8")
        self._ordered = ordered
        self._order = sorted(order) if ordered else []
        self._next = 0
        self._waiting: dict[int, str] = {}
        self._flush_seconds = flush_seconds
        self._flushed = time.monotonic()
        self.written = 0
        self.seconds = 0.0

    def write(self, line: int, text: str) -> None:
        started = time.perf_counter()
        if not self._ordered:
            self._file.write(text + "\n")
            self.written += 1
        else:
            self._waiting[line] = text
            while self._next < len(self._order) and self._order[self._next] in self._waiting:
                self._file.write(self._waiting.pop(self._order[self._next]) + "\n")
                self._next += 1
                self.written += 1
        if time.monotonic() - self._flushed >= self._flush_seconds:
            self.flush()
        self.seconds += time.perf_counter() - started

    def flush(self) -> None:
        self._file.flush()
        self._flushed = time.monotonic()

    @property
    def held(self) -> int:
        """Lines finished but waiting for an earlier one (`ordered`)."""
        return len(self._waiting)

    def close(self) -> None:
        for line in sorted(self._waiting):  # only when the run stops early: what is known is kept
            self._file.write(self._waiting.pop(line) + "\n")
        self._file.close()

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
