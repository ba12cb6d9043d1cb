"""Batch file formats and parsing: lines to jobs, refused parameters, error lines in the providers' formats."""

from __future__ import annotations

import json

import pytest

from llmcache.shared.jobs import JobError, JobResult, Outcome
from llmcache.shared.models import Completion
from llmcache.shared.providers.pricing import PricingTable
from llmcache.workers.batch.formats import (
    LineError,
    LineOptions,
    ParsedLine,
    encode_line,
    error_line,
    follower_line,
    result_line,
)
from llmcache.workers.batch.parsing import LineRules, line_digest, options_digest, parse_file, parse_line
from llmcache.workers.batch.scan import scan_input


def openai(custom_id: str, text: str = "hi", **extra: object) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "temperature": 0}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body, **extra})


def openai_body(custom_id: str, **body: object) -> str:
    full = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **body}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": full})


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


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"stream": True}, "line 1: body.stream: a batch line cannot stream"),
        ({"stream_options": {"include_usage": True}}, "line 1: body.stream_options: a batch line cannot stream"),
        ({"n": 3}, "line 1: body.n: a batch line gets one choice, got 3"),
        ({"extra_headers": {"Authorization": "Bearer x"}}, "line 1: body.extra_headers: SDK request options"),
        ({"extra_query": {"a": "b"}}, "line 1: body.extra_query: SDK request options"),
        ({"extra_body": {"a": "b"}}, "line 1: body.extra_body: SDK request options"),
        ({"timeout": 1}, "line 1: body.timeout: SDK request options"),
        ({"messages": []}, "line 1: body.messages: List should have at least 1 item"),
    ],
)
def test_parameters_a_batch_cannot_honour_are_refused_at_parse_time(body: dict[str, object], expected: str) -> None:
    found = parse_line(1, openai_body("c", **body), "openai", LineOptions())
    assert isinstance(found, LineError) and found.custom_id == "c"
    assert found.message.startswith(expected), found.message


def test_stream_false_is_accepted_and_not_keyed() -> None:
    found = parse_line(1, openai_body("c", stream=False), "openai", LineOptions())
    assert isinstance(found, ParsedLine) and "stream" not in found.job.request.params


def test_anthropic_refuses_stream_and_sdk_options() -> None:
    params = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}]}
    streamed = parse_line(1, json.dumps({"custom_id": "s", "params": {**params, "stream": True}}), "anthropic",
                          LineOptions())  # fmt: skip
    headers = parse_line(2, json.dumps({"custom_id": "h", "params": {**params, "extra_headers": {"x": "y"}}}),
                         "anthropic", LineOptions())  # fmt: skip
    assert isinstance(streamed, LineError) and streamed.message.startswith("line 1: params.stream:")
    assert isinstance(headers, LineError) and headers.message.startswith("line 2: params.extra_headers:")


def test_rules_refuse_unknown_models_namespaces_and_long_prompts() -> None:
    rules = LineRules(frozenset({"default"}), PricingTable.load(), max_prompt_chars=50)
    unknown = parse_line(1, openai_body("m", model="no-such-model"), "openai", LineOptions(), rules)
    assert isinstance(unknown, LineError)
    assert unknown.message.startswith("line 1: body.model: model 'no-such-model' is not in the pricing table")
    dated = parse_line(2, openai_body("d", model="gpt-4o-mini-2024-07-18"), "openai", LineOptions(), rules)
    assert isinstance(dated, ParsedLine)  # a dated snapshot prices as its table name
    long = parse_line(3, openai("l", "x" * 51), "openai", LineOptions(), rules)
    assert isinstance(long, LineError)
    assert long.message == (
        "line 3: body.messages: the prompt is 51 characters, over the limit of 50 (LLMCACHE_BATCH__MAX_PROMPT_CHARS)"
    )
    namespace = parse_line(4, openai("n", llmcache={"namespace": "nope"}), "openai", LineOptions(), rules)
    assert isinstance(namespace, LineError)
    assert namespace.message == "line 4: llmcache.namespace: 'nope' has no policy (known: default)"


def test_scan_finds_bad_utf8_bad_json_missing_and_duplicate_custom_ids() -> None:
    latin1 = b'{"custom_id": "u", "body": {"x": "caf\xe9"}, "url": "/v1/chat/completions"}'
    data = b"\n".join(
        [
            openai("a").encode(),
            latin1,
            b"not json",
            json.dumps({"url": "/v1/chat/completions", "body": {}}).encode(),
            b"",
            openai("a", "other").encode(),
        ]
    )
    scan = scan_input(data, options_digest(LineOptions()))
    assert scan.fmt == "openai"
    by_line = {line.line: line for line in scan.lines}
    assert sorted(by_line) == [1, 2, 3, 4, 6]
    assert by_line[1].error is None and by_line[1].custom_id == "a"
    offset = latin1.index(b"\xe9")
    assert by_line[2].error == f"line 2: not valid UTF-8 (byte 0xe9 at offset {offset})" and by_line[2].custom_id == "u"
    assert (by_line[3].error or "").startswith("line 3: not valid JSON") and by_line[3].custom_id is None
    assert by_line[4].error == "line 4: custom_id: a non-empty string is required"
    assert by_line[6].error == "line 6: custom_id 'a' duplicates line 1" and by_line[6].duplicate_of == 1


def test_the_digest_changes_with_the_line_and_with_the_defaults() -> None:
    plain = options_digest(LineOptions())
    other = options_digest(LineOptions(tenant="t"))
    assert line_digest(b"x", plain) == line_digest(b"x", plain)
    assert line_digest(b"x", plain) != line_digest(b"y", plain)
    assert line_digest(b"x", plain) != line_digest(b"x", other)


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
    row = result_line("anthropic", 1, "c", done, digest="d1")
    assert row["result"]["type"] == "succeeded"
    assert row["result"]["message"]["content"] == [{"type": "text", "text": "answer"}]
    assert row["llmcache"]["outcome"] == "semantic" and row["llmcache"]["similarity"] == 0.93
    assert row["llmcache"]["digest"] == "d1"
    failed = error_line("anthropic", 2, "d", "line 2: broken")
    assert failed["result"]["error"]["error"] == {"type": "invalid_request_error", "message": "line 2: broken"}
    assert failed["llmcache"]["retryable"] is False and failed["llmcache"]["outcome"] == "error"


def test_a_failed_provider_request_has_its_status_and_body_under_response() -> None:
    result = JobResult(
        job_id="j", outcome=Outcome.ERROR,
        error=JobError(type="RetryableProviderError", message="overloaded", status=529, retryable=True),
    )  # fmt: skip
    openai_row = result_line("openai", 3, "c", result)
    assert openai_row["error"] is None
    assert openai_row["response"]["status_code"] == 529
    assert openai_row["response"]["body"]["error"]["message"] == "overloaded"
    assert openai_row["llmcache"]["retryable"] is True
    anthropic_row = result_line("anthropic", 3, "c", result)
    assert anthropic_row["result"]["error"]["error"] == {"type": "overloaded_error", "message": "overloaded"}
    timed_out = JobResult(
        job_id="j", outcome=Outcome.ERROR,
        error=JobError(type="RetryableProviderError", message="request timed out", retryable=True),
    )  # fmt: skip
    no_response = result_line("openai", 4, "t", timed_out)
    assert no_response["response"] is None
    assert no_response["error"] == {"code": "provider_unavailable", "message": "request timed out"}


def test_a_follower_gets_its_leaders_answer_with_its_own_ids() -> None:
    done = JobResult(
        job_id="j", outcome=Outcome.MISS, cost_usd=0.002, provider_called=True,
        completion=Completion(provider="openai", model="gpt-4o-mini", text="answer", finish_reason="stop"),
    )  # fmt: skip
    leader = result_line("openai", 1, "lead", done)
    follower = json.loads(follower_line(leader, 7, "follow", "dg", saved_usd=0.002, similarity=0.97))
    assert follower["custom_id"] == "follow" and follower["id"] != leader["id"]
    assert follower["response"] == leader["response"]
    assert follower["llmcache"] == {
        "line": 7, "digest": "dg", "outcome": "coalesced", "similarity": 0.97, "provider_called": False,
        "cost_usd": 0.0, "saved_usd": 0.002, "leader": "lead",
    }  # fmt: skip


def test_line_options_memo_evicts_safely_under_threads() -> None:
    """More distinct `llmcache` objects than the memo holds, parsed from several threads at once: every line still
    parses, with its own tenant (the memo's eviction must not race)."""
    from concurrent.futures import ThreadPoolExecutor

    from llmcache.workers.batch import parsing

    lines = [
        (n, openai(f"c{n}", llmcache={"tenant": f"t{n}"})) for n in range(1, 4 * parsing._OPTIONS_MEMO_ENTRIES + 1)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda item: parse_line(item[0], item[1], "openai", LineOptions()), lines))
    assert all(isinstance(line, ParsedLine) for line in found)
    assert [line.job.request.scope.tenant for line in found if isinstance(line, ParsedLine)] == [
        f"t{n}" for n, _ in lines
    ]
    assert len(parsing._options_memo) <= parsing._OPTIONS_MEMO_ENTRIES


def test_integers_beyond_64_bits_keep_their_value_in_and_out() -> None:
    bound = 123456789012345678901234567890
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "integer", "maximum": bound}}}
    first = parse_line(1, openai_body("a", tools=[tool]), "openai", LineOptions())
    tool["function"]["parameters"]["maximum"] = bound + 1  # type: ignore[index]
    second = parse_line(2, openai_body("b", tools=[tool]), "openai", LineOptions())
    assert isinstance(first, ParsedLine) and isinstance(second, ParsedLine)
    assert first.job.request.params["tools"] != second.job.request.params["tools"]  # not both rounded to one float
    assert encode_line({"n": bound, "text": "café"}) == '{"n":123456789012345678901234567890,"text":"café"}'
    assert encode_line({"n": 1, "text": "café"}) == '{"n":1,"text":"café"}'
