from __future__ import annotations

import json

from shared.batchfiles import LineError, LineOptions, ParsedLine, error_line, parse_file, result_line
from shared.jobs import JobResult, Outcome
from shared.models import Completion


def openai(custom_id: str, text: str = "hi", **extra: object) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "temperature": 0}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body, **extra})


def test_openai_lines_become_jobs_with_options_and_defaults() -> None:
    fmt, parsed = parse_file(
        [openai("a", llmcache={"tenant": "acme", "no_store": True}), "", openai("b")],
        LineOptions(namespace="faq", tenant="default-tenant"),
    )
    assert fmt == "openai"
    a, b = parsed
    assert isinstance(a, ParsedLine) and isinstance(b, ParsedLine)
    assert (a.line, b.line) == (1, 3)
    assert a.job.request.scope.tenant == "acme" and a.job.overrides.no_store
    assert b.job.request.scope.tenant == "default-tenant" and b.job.request.namespace == "faq"
    assert a.job.request.params == {"temperature": 0}


def test_errors_name_the_line_and_the_field() -> None:
    lines = [
        openai("ok"),
        "{oops",
        json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/embeddings", "body": {}}),
        openai("bad-opts", llmcache={"threshold": 2}),
        json.dumps({"custom_id": "anth", "params": {"model": "m", "max_tokens": 5, "messages": []}}),
        openai("ok"),
    ]
    _, parsed = parse_file(lines, LineOptions())
    errors = {p.line: p.message for p in parsed if isinstance(p, LineError)}
    assert errors[2].startswith("line 2: not valid JSON")
    assert errors[3] == "line 3: url: only /v1/chat/completions is supported, got '/v1/embeddings'"
    assert errors[4].startswith("line 4: llmcache.threshold")
    assert errors[5] == "line 5: not an openai batch line (this file is openai)"
    assert errors[6] == "line 6: custom_id 'ok' duplicates line 1"
    assert isinstance(parsed[0], ParsedLine)


def test_anthropic_format_detected_and_results_in_its_shape() -> None:
    line = json.dumps({"custom_id": "c", "params": {"model": "claude-haiku-4-5", "max_tokens": 10, "system": "S",
                                                    "messages": [{"role": "user", "content": "q"}]}})  # fmt: skip
    fmt, (parsed,) = parse_file([line], LineOptions())
    assert fmt == "anthropic" and isinstance(parsed, ParsedLine)
    assert parsed.job.request.system == "S" and parsed.job.request.params == {"max_tokens": 10}
    done = JobResult(
        job_id="j", outcome=Outcome.SEMANTIC, similarity=0.93,
        completion=Completion(provider="anthropic", model="claude-haiku-4-5", text="answer", finish_reason="end_turn"),
        saved_usd=0.01,
    )  # fmt: skip
    row = result_line("anthropic", 1, "c", done)
    assert row["result"]["type"] == "succeeded"
    assert row["result"]["message"]["content"] == [{"type": "text", "text": "answer"}]
    assert row["llmcache"]["outcome"] == "semantic" and row["llmcache"]["similarity"] == 0.93
    failed = error_line("anthropic", 2, "d", "line 2: broken")
    assert failed["result"]["error"]["error"] == {"type": "invalid_request_error", "message": "line 2: broken"}
