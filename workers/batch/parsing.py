"""Batch lines to jobs, or to that line's error, which names the line and the field.

Refused at parse time, because a batch cannot honour them or because they would reach past the cache:
`stream: true` (and `stream_options`), `n` other than 1, and the SDK's request options `extra_headers`,
`extra_query`, `extra_body` and `timeout` (they could replace the Authorization header, and the request key
ignores them). With `LineRules`: a prompt over the size limit, a model missing from the pricing table (so its
cost would be unknown) and a namespace without a policy.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from llmcache.shared.errors import ConfigurationError
from llmcache.shared.jobs import Job, JobOverrides
from llmcache.shared.models import CacheRequest, Scope
from llmcache.shared.providers.pricing import PricingTable
from llmcache.workers.batch.formats import BatchFormat, LineError, LineOptions, ParsedLine, detect_format

OPENAI_URL = "/v1/chat/completions"
SDK_OPTIONS = ("extra_headers", "extra_query", "extra_body", "timeout")


@dataclass(frozen=True)
class LineRules:
    """What a line is checked against beyond its shape (None: not checked)."""

    namespaces: frozenset[str] | None = None
    pricing: PricingTable | None = None
    max_prompt_chars: int | None = None


def options_digest(defaults: LineOptions) -> str:
    return hashlib.sha256(defaults.model_dump_json(exclude_none=True).encode()).hexdigest()[:12]


def line_digest(raw: bytes, defaults_digest: str) -> str:
    """What resume compares: an edited line, or the same line under other CLI defaults, runs again."""
    return hashlib.sha256(raw + b"\x00" + defaults_digest.encode()).hexdigest()[:20]


def _describe(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    return f"{prefix}{'.' + location if location else ''}: {first['msg']}"


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_chars(v) for v in value)
    if isinstance(value, dict):
        return sum(_text_chars(v) for k, v in value.items() if k in ("content", "text"))
    return 0


def _refuse(params: Mapping[str, Any], prefix: str) -> None:
    for name in SDK_OPTIONS:
        if name in params:
            raise ValueError(
                f"{prefix}.{name}: SDK request options cannot be set per line (they would bypass the cache's "
                "request key and could replace its headers); remove it"
            )
    if params.get("stream"):
        raise ValueError(f"{prefix}.stream: a batch line cannot stream; remove it or set it to false")
    if "stream_options" in params:
        raise ValueError(f"{prefix}.stream_options: a batch line cannot stream; remove it")
    if params.get("n", 1) not in (None, 1):
        raise ValueError(f"{prefix}.n: a batch line gets one choice, got {params.get('n')!r}")


_SCALARS = (str, int, float, bool, type(None))
_OPTIONS_MEMO_ENTRIES = 256  # a file's lines carry a few distinct `llmcache` objects (tenants, namespaces)
_options_memo_lock = threading.Lock()
_options_memo: dict[tuple[LineOptions, tuple[tuple[str, type, Any], ...]], tuple[LineOptions, JobOverrides]] = {}


def _overrides(options: LineOptions) -> JobOverrides:
    return JobOverrides(
        no_cache=bool(options.no_cache),
        no_store=bool(options.no_store),
        ttl_seconds=options.ttl_seconds,
        threshold=options.threshold,
    )


def _line_options(given: Any, defaults: LineOptions) -> tuple[LineOptions, JobOverrides]:
    """A line's options over the defaults, and its job overrides; both frozen, so shared by the lines of a file
    that carry the same flat `llmcache` object (memoised with each value's type: 1, 1.0 and True are equal keys).
    Raises ValidationError as LineOptions does; a refused object is never memoised."""
    if not isinstance(given, dict) or not all(type(v) in _SCALARS for v in given.values()):
        options = LineOptions.model_validate(given).merged_over(defaults)
        return options, _overrides(options)
    key = (defaults, tuple((k, type(v), v) for k, v in given.items()))
    found = _options_memo.get(key)
    if found is None:
        options = LineOptions.model_validate(given).merged_over(defaults)
        found = (options, _overrides(options))
        with _options_memo_lock:  # a worker's threads parse at once: eviction must not race
            if len(_options_memo) >= _OPTIONS_MEMO_ENTRIES:
                _options_memo.pop(next(iter(_options_memo)))
            _options_memo[key] = found
    return found


def parse_line(
    number: int, text: str, fmt: BatchFormat, defaults: LineOptions, rules: LineRules | None = None
) -> ParsedLine | LineError:
    try:
        # the standard library, not orjson: orjson reads an integer beyond 64 bits as a float, and two such
        # integers in a request (a tool schema's bound, a seed) could then share a request key
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return LineError(number, None, f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
    if not isinstance(raw, dict):
        return LineError(number, None, f"line {number}: expected a JSON object")
    custom_id = raw.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return LineError(number, None, f"line {number}: custom_id: a non-empty string is required")
    found = detect_format(raw)
    if found != fmt:
        return LineError(number, custom_id, f"line {number}: not an {fmt} batch line (this file is {fmt})")
    try:
        options, overrides = _line_options(raw.get("llmcache") or {}, defaults)
    except ValidationError as error:
        return LineError(number, custom_id, f"line {number}: {_describe(error, 'llmcache')}")
    try:
        _refuse(raw, "line")
        request = _openai_request(raw, options) if fmt == "openai" else _anthropic_request(raw, options)
        if rules is not None:
            _check(request, rules, "body" if fmt == "openai" else "params")
    except (ValidationError, ValueError) as error:
        prefix = "body" if fmt == "openai" else "params"
        detail = _describe(error, prefix) if isinstance(error, ValidationError) else str(error)
        return LineError(number, custom_id, f"line {number}: {detail}")
    return ParsedLine(number, custom_id, Job(custom_id=custom_id, request=request, overrides=overrides))


def _check(request: CacheRequest, rules: LineRules, prefix: str) -> None:
    if rules.namespaces is not None and request.namespace not in rules.namespaces:
        known = ", ".join(sorted(rules.namespaces))
        raise ValueError(f"llmcache.namespace: {request.namespace!r} has no policy (known: {known})")
    if rules.pricing is not None:
        try:
            rules.pricing.price(request.model)
        except ConfigurationError as error:
            raise ValueError(f"{prefix}.model: {error}") from None
    if rules.max_prompt_chars is not None:
        size = _text_chars(request.system) + sum(_text_chars(m.content) for m in request.messages)
        if size > rules.max_prompt_chars:
            raise ValueError(
                f"{prefix}.messages: the prompt is {size:,} characters, over the limit of {rules.max_prompt_chars:,} "
                "(LLMCACHE_BATCH__MAX_PROMPT_CHARS)"
            )


def _scope(options: LineOptions) -> Scope:
    return Scope(tenant=options.tenant or "default", user=options.user)


def _openai_request(raw: dict[str, Any], options: LineOptions) -> CacheRequest:
    if raw.get("method", "POST") != "POST":
        raise ValueError("method: only POST is supported")
    if raw.get("url") != OPENAI_URL:
        raise ValueError(f"url: only {OPENAI_URL} is supported, got {raw.get('url')!r}")
    body = raw.get("body")
    if not isinstance(body, dict):
        raise ValueError("body: a JSON object is required")
    _refuse(body, "body")
    params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    return CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": body.get("model"),
            "messages": body.get("messages"),
            "params": params,
            "namespace": options.namespace or "default",
            "scope": _scope(options),
        }
    )


def _anthropic_request(raw: dict[str, Any], options: LineOptions) -> CacheRequest:
    params = raw.get("params")
    if not isinstance(params, dict):
        raise ValueError("params: a JSON object is required")
    _refuse(params, "params")
    if not isinstance(params.get("max_tokens"), int):
        raise ValueError("params.max_tokens: an integer is required by Anthropic")
    rest = {k: v for k, v in params.items() if k not in ("model", "messages", "system", "stream")}
    return CacheRequest.model_validate(
        {
            "provider": "anthropic",
            "model": params.get("model"),
            "messages": params.get("messages"),
            "system": params.get("system"),
            "params": rest,
            "namespace": options.namespace or "default",
            "scope": _scope(options),
        }
    )


def sniff_format(lines: Iterable[str]) -> BatchFormat:
    """The first recognisable line's format (OpenAI when none is)."""
    for text in lines:
        try:
            raw = orjson.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(raw, dict) and (found := detect_format(raw)) is not None:
            return found
    return "openai"


def parse_file(
    lines: list[str], defaults: LineOptions, rules: LineRules | None = None
) -> tuple[BatchFormat, list[ParsedLine | LineError]]:
    """Every non-blank line parsed, in memory (warm-up intent files; `batch run` streams instead). Duplicate
    custom_ids are found before anything runs: every occurrence after the first becomes an error line."""
    fmt = sniff_format(lines)
    parsed = [parse_line(number, text, fmt, defaults, rules) for number, text in enumerate(lines, 1) if text.strip()]
    counts = Counter(p.custom_id for p in parsed if p.custom_id is not None)
    seen: dict[str, int] = {}
    out: list[ParsedLine | LineError] = []
    for item in parsed:
        cid = item.custom_id
        if cid is not None and counts[cid] > 1:
            if cid in seen:
                out.append(LineError(item.line, cid, duplicate_message(item.line, cid, seen[cid])))
                continue
            seen[cid] = item.line
        out.append(item)
    return fmt, out


def duplicate_message(line: int, custom_id: str, first: int) -> str:
    return f"line {line}: custom_id {custom_id!r} duplicates line {first}"
