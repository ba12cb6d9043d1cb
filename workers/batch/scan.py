"""The client's pass over the input: where each line is, its custom_id and digest, and the lines that cannot go
to a worker at all (not UTF-8, not JSON, no custom_id, a duplicate custom_id). The file is memory-mapped: a
line's text is read again when it is sent, so that a large file is never held in memory."""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from llmcache.workers.batch.formats import BatchFormat, detect_format
from llmcache.workers.batch.parsing import duplicate_message, line_digest


@dataclass(frozen=True, slots=True)
class InputLine:
    line: int
    offset: int
    length: int
    custom_id: str | None
    digest: str
    error: str | None = None  # set: the line's output is this error, it goes to no worker
    duplicate_of: int | None = None


@dataclass
class Scan:
    fmt: BatchFormat
    lines: list[InputLine]


def _lines(data: mmap.mmap | bytes) -> Iterator[tuple[int, int, int]]:
    number, offset, size = 0, 0, len(data)
    while offset < size:
        end = data.find(b"\n", offset)
        if end < 0:
            end = size
        number += 1
        yield number, offset, end - offset
        offset = end + 1


def _custom_id(raw: object) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("custom_id")
        if isinstance(value, str) and value:
            return value
    return None


def scan_input(data: mmap.mmap | bytes, defaults_digest: str) -> Scan:
    fmt: BatchFormat | None = None
    out: list[InputLine] = []
    first_seen: dict[str, int] = {}
    for number, offset, length in _lines(data):
        raw_bytes = bytes(data[offset : offset + length])
        if raw_bytes.endswith(b"\r"):
            raw_bytes = raw_bytes[:-1]
        if not raw_bytes.strip():
            continue
        digest = line_digest(raw_bytes, defaults_digest)
        try:
            text = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            loose = raw_bytes.decode("utf-8", errors="replace")
            try:
                custom_id = _custom_id(orjson.loads(loose))
            except json.JSONDecodeError:
                custom_id = None
            message = f"line {number}: not valid UTF-8 (byte 0x{raw_bytes[error.start]:02x} at offset {error.start})"
            out.append(InputLine(number, offset, length, custom_id, digest, message))
            continue
        try:
            raw = orjson.loads(text)
        except json.JSONDecodeError as error:
            message = f"line {number}: not valid JSON ({error.msg} at column {error.colno})"
            out.append(InputLine(number, offset, length, None, digest, message))
            continue
        if not isinstance(raw, dict):
            out.append(InputLine(number, offset, length, None, digest, f"line {number}: expected a JSON object"))
            continue
        if fmt is None:
            fmt = detect_format(raw)
        custom_id = _custom_id(raw)
        if custom_id is None:
            message = f"line {number}: custom_id: a non-empty string is required"
            out.append(InputLine(number, offset, length, None, digest, message))
            continue
        if custom_id in first_seen:
            first = first_seen[custom_id]
            message = duplicate_message(number, custom_id, first)
            out.append(InputLine(number, offset, length, custom_id, digest, message, duplicate_of=first))
            continue
        first_seen[custom_id] = number
        out.append(InputLine(number, offset, length, custom_id, digest))
    return Scan(fmt or "openai", out)


def read_text(data: mmap.mmap | bytes, line: InputLine) -> str:
    raw = bytes(data[line.offset : line.offset + line.length])
    return raw.decode("utf-8").removesuffix("\r")


def open_input(path: Path) -> mmap.mmap | bytes:
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
