"""The prompt-cache linter: content in the cacheable prefix that changes per request breaks every cache hit.

Flags timestamps, dates, times, UUIDs, request ids and e-mail-like per-user data in a static prefix (system prompt,
tools), and a long static part placed after such dynamic content (move the dynamic part to the end).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

import structlog

from llmcache.shared.models import CacheRequest
from llmcache.shared.providers.tokens import count_tokens

log = structlog.get_logger("llmcache.providers.lint")

_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "iso-timestamp",
        "an ISO timestamp",
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
    ),
    (
        "date",
        "a date",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
            r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}\b"
            r"|\b\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{4}\b",
            re.IGNORECASE,
        ),
    ),
    ("time", "a time of day", re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s?(am|pm|utc|gmt)?\b", re.IGNORECASE)),
    ("unix-timestamp", "a Unix timestamp", re.compile(r"\b1[5-9]\d{8}(\d{3})?\b")),
    ("uuid", "a UUID", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)),
    (
        "request-id",
        "a request or session id",
        re.compile(r"\b(?:req|request|session|trace|msg|run)[_-]?(?:id)?[:=_-]\s*[A-Za-z0-9_-]{6,}\b", re.IGNORECASE),
    ),
    ("email", "an e-mail address (per-user data)", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")),
    (
        "relative-day",
        "a phrase like 'today is'",
        re.compile(r"\b(today is|current (date|time) is|now is)\b", re.IGNORECASE),
    ),
)
STATIC_TAIL_TOKENS = 256  # a static part this long after dynamic content is worth moving in front of it


@dataclass(frozen=True)
class LintFinding:
    """One flagged span. `excerpt` is the flagged text itself (it may be per-user data, e.g. an e-mail address):
    `str()` shows it for the operator's own `llmcache lint-prompt` run; log lines carry `log_fields()` only."""

    code: str
    message: str
    where: str
    offset: int
    excerpt: str
    length: int = 0  # characters flagged from `offset`

    def __str__(self) -> str:
        return f"{self.where}@{self.offset}: [{self.code}] {self.message}: {self.excerpt!r}"

    def log_fields(self) -> dict[str, str | int]:
        """The rule and the position, never the flagged text."""
        return {"code": self.code, "where": self.where, "offset": self.offset, "length": self.length}


def lint_prefix_text(text: str, where: str = "system") -> list[LintFinding]:
    findings: list[LintFinding] = []
    taken: list[tuple[int, int]] = []
    for code, label, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue  # a date inside an ISO timestamp is one finding, not two
            taken.append((match.start(), match.end()))
            findings.append(
                LintFinding(
                    code,
                    f"{label} in the cacheable prefix changes per request",
                    where,
                    match.start(),
                    match.group(0)[:60],
                    match.end() - match.start(),
                )
            )
    if findings:
        last_dynamic_end = max(end for _, end in taken)
        tail_tokens = count_tokens(text[last_dynamic_end:])
        if tail_tokens >= STATIC_TAIL_TOKENS:
            first = min(f.offset for f in findings)
            findings.append(
                LintFinding(
                    "dynamic-before-static",
                    f"{tail_tokens} tokens of static text follow dynamic content: move the dynamic part to the end",
                    where,
                    first,
                    text[first : first + 60],
                    len(text) - first,
                )
            )
    return sorted(findings, key=lambda f: f.offset)


def static_prefix_texts(request: CacheRequest) -> list[tuple[str, str]]:
    """(where, text) for every part of a request's cacheable prefix: tools, system, leading system messages."""
    parts: list[tuple[str, str]] = []
    tools = request.params.get("tools")
    if tools:
        parts.append(("tools", json.dumps(tools, sort_keys=True)))
    if isinstance(request.system, str):
        parts.append(("system", request.system))
    elif isinstance(request.system, list):
        parts += [(f"system[{i}]", str(b.get("text", ""))) for i, b in enumerate(request.system) if isinstance(b, dict)]
    for index, message in enumerate(request.messages):
        if message.role not in ("system", "developer"):
            break
        if isinstance(message.content, str):
            parts.append((f"messages[{index}]", message.content))
    return parts


def lint_request(request: CacheRequest) -> list[LintFinding]:
    return [finding for where, text in static_prefix_texts(request) for finding in lint_prefix_text(text, where)]


class PromptLintReporter:
    """Lints the first request seen of each namespace and logs what it finds, once per process."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def check(self, request: CacheRequest) -> list[LintFinding]:
        with self._lock:
            if request.namespace in self._seen:
                return []
            self._seen.add(request.namespace)
        findings = lint_request(request)
        for finding in findings:
            log.warning("prompt_cache_lint", namespace=request.namespace, **finding.log_fields())
        return findings
