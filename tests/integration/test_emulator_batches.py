"""The provider emulator's Batch APIs (an emulator, not a real provider) through the real SDKs: OpenAI Files and
Batches, Anthropic Message Batches; lifecycle, request counts, line formats, validation, limits, faults, expiry,
cancel, and the accounting at batch prices. Also the core's Batch API clients against them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from llmcache.shared.config import RetrySettings
from llmcache.shared.models import CacheRequest, Usage
from llmcache.shared.providers.anthropic_provider import AnthropicProvider
from llmcache.shared.providers.base import CallPolicy
from llmcache.shared.providers.batch_api.anthropic_batches import AnthropicBatchClient
from llmcache.shared.providers.batch_api.base import (
    BatchAPIClient,
    BatchItem,
    BatchLimits,
    PollPolicy,
    split,
    wait_until_ended,
)
from llmcache.shared.providers.batch_api.openai_batches import OpenAIBatchClient
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.pricing import PricingTable
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator

MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with RunningEmulator(EmulatorConfig()) as running:
        yield running


def oa(emulator: RunningEmulator) -> openai.OpenAI:
    return openai.OpenAI(api_key="emulator-key", base_url=emulator.openai_base_url, max_retries=0)


def an(emulator: RunningEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="emulator-key", base_url=emulator.anthropic_base_url, max_retries=0)


def line(custom_id: str, text: str, model: str = MODEL, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
    }


def upload(client: openai.OpenAI, rows: list[Any]) -> str:
    content = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    return client.files.create(file=("input.jsonl", content), purpose="batch").id


def create(client: openai.OpenAI, file_id: str) -> str:
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(t) for t in text.splitlines() if t.strip()]


def test_openai_files_and_batch_lifecycle_with_line_formats(emulator: RunningEmulator) -> None:
    emulator.configure(batch_request_faults={"q2": "500"})
    client = oa(emulator)
    rows = [line(f"q{i}", f"question {i}") for i in range(5)] + [line("bad", "x", messages=[])]
    file_id = upload(client, rows)
    stored = client.files.retrieve(file_id)
    assert stored.purpose == "batch" and stored.bytes > 0 and stored.filename == "input.jsonl"
    assert json.loads(client.files.content(file_id).text.splitlines()[0])["custom_id"] == "q0"
    created = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert created.status == "validating" and created.request_counts is not None
    assert created.request_counts.total == 0
    batch = client.batches.retrieve(created.id)
    assert batch.status == "completed" and batch.model == MODEL
    assert batch.in_progress_at is not None and batch.finalizing_at is not None and batch.completed_at is not None
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (6, 4, 2)
    assert batch.output_file_id is not None and batch.error_file_id is not None
    output = jsonl(client.files.content(batch.output_file_id).text)
    assert {r["custom_id"] for r in output} == {"q0", "q1", "q3", "q4"}
    for row in output:
        assert row["id"].startswith("batch_req_") and row["error"] is None
        assert row["response"]["status_code"] == 200 and row["response"]["request_id"]
        assert row["response"]["body"]["object"] == "chat.completion"
    errors = {r["custom_id"]: r for r in jsonl(client.files.content(batch.error_file_id).text)}
    assert errors["q2"]["response"]["status_code"] == 500  # the injected fault
    assert errors["bad"]["response"]["status_code"] == 400  # a bad body is that line's error, not the batch's
    assert errors["bad"]["response"]["body"]["error"]["param"] == "messages"
    assert batch.usage is not None and batch.usage.input_tokens > 0
    assert [b.id for b in client.batches.list()] == [created.id]
    assert client.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)


@pytest.mark.parametrize(
    ("rows", "code", "line_number"),
    [
        ([line("a", "x"), '{"custom_id": "b", "method": '], "invalid_json_line", 2),
        ([line("a", "x"), line("a", "y")], "duplicate_custom_id", 2),
        ([line("a", "x"), line("b", "y", model="gpt-4.1")], "model_mismatch", 2),
        ([line("a", "x"), {**line("b", "y"), "url": "/v1/embeddings"}], "url_mismatch", 2),
    ],
)
def test_openai_malformed_file_fails_the_whole_batch_naming_the_line(
    emulator: RunningEmulator, rows: list[Any], code: str, line_number: int
) -> None:
    client = oa(emulator)
    batch = client.batches.retrieve(create(client, upload(client, rows)))
    assert batch.status == "failed" and batch.failed_at is not None and batch.output_file_id is None
    assert batch.errors is not None and batch.errors.data is not None
    assert [(e.code, e.line) for e in batch.errors.data] == [(code, line_number)]
    assert emulator.stats()["calls"] == 0  # nothing ran


def test_openai_limits_on_lines_and_bytes(emulator: RunningEmulator) -> None:
    client = oa(emulator)
    emulator.configure(openai_batch_max_requests=2)
    batch = client.batches.retrieve(create(client, upload(client, [line(f"r{i}", "x") for i in range(3)])))
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    assert batch.errors.data[0].code == "too_many_tasks"
    emulator.configure(openai_batch_max_requests=50_000, openai_batch_max_bytes=100)
    batch = client.batches.retrieve(create(client, upload(client, [line("r0", "x" * 200)])))
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data is not None
    assert batch.errors.data[0].code == "file_too_large"


def test_openai_cancel_while_in_progress_and_partial_expiry(emulator: RunningEmulator) -> None:
    client = oa(emulator)
    emulator.configure(batch_hold=True)
    batch_id = create(client, upload(client, [line(f"c{i}", f"q {i}") for i in range(4)]))
    assert client.batches.retrieve(batch_id).status == "in_progress"
    assert client.batches.cancel(batch_id).status in ("cancelling", "cancelled")
    cancelled = client.batches.retrieve(batch_id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None and cancelled.error_file_id
    assert {r["error"]["code"] for r in jsonl(client.files.content(cancelled.error_file_id).text)} == {
        "batch_cancelled"
    }
    emulator.configure(batch_hold=False, batch_expire_fraction=0.5)
    expired = client.batches.retrieve(create(client, upload(client, [line(f"e{i}", f"q {i}") for i in range(4)])))
    assert expired.status == "expired" and expired.expired_at is not None
    assert expired.request_counts is not None and expired.request_counts.completed == 2
    assert expired.error_file_id is not None
    codes = {r["custom_id"]: r["error"]["code"] for r in jsonl(client.files.content(expired.error_file_id).text)}
    assert codes == {"e2": "batch_expired", "e3": "batch_expired"}


def test_openai_validating_phase_lasts_its_configured_delay(emulator: RunningEmulator) -> None:
    emulator.configure(batch_validating_seconds=3600)
    client = oa(emulator)
    batch_id = create(client, upload(client, [line("v", "x")]))
    assert client.batches.retrieve(batch_id).status == "validating"


def params(text: str, **extra: Any) -> Any:
    return {"model": CLAUDE, "max_tokens": 100, "messages": [{"role": "user", "content": text}], **extra}


def test_anthropic_message_batch_lifecycle_and_results(emulator: RunningEmulator) -> None:
    emulator.configure(batch_request_faults={"m1": "529"}, batch_hold=True)
    client = an(emulator)
    requests: Any = [{"custom_id": f"m{i}", "params": params(f"question {i}")} for i in range(4)]
    requests.append({"custom_id": "bad", "params": {"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]}})
    created = client.messages.batches.create(requests=requests)
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 5
    assert client.messages.batches.retrieve(created.id).processing_status == "in_progress"
    emulator.release_batches()
    ended = client.messages.batches.retrieve(created.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None and ended.results_url
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 3, 2, 0, 0)
    results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    assert {k: v.type for k, v in results.items()} == {
        "m0": "succeeded", "m1": "errored", "m2": "succeeded", "m3": "succeeded", "bad": "errored"
    }  # fmt: skip
    assert results["m1"].type == "errored" and results["m1"].error.error.type == "overloaded_error"
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"
    assert [b.id for b in client.messages.batches.list()] == [created.id]
    assert client.messages.batches.delete(created.id).type == "message_batch_deleted"


def test_anthropic_create_validation_cancel_and_expiry(emulator: RunningEmulator) -> None:
    client = an(emulator)
    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        client.messages.batches.create(requests=[{"custom_id": "has space", "params": params("x")}])
    with pytest.raises(anthropic.BadRequestError, match="Duplicate"):
        client.messages.batches.create(requests=[{"custom_id": "a", "params": params("x")}] * 2)
    emulator.configure(anthropic_batch_max_requests=1)
    with pytest.raises(anthropic.BadRequestError, match="at most 1"):
        client.messages.batches.create(requests=[{"custom_id": f"a{i}", "params": params("x")} for i in range(2)])
    emulator.configure(anthropic_batch_max_requests=100_000, batch_hold=True)
    held = client.messages.batches.create(requests=[{"custom_id": "c", "params": params("x")}])
    assert client.messages.batches.cancel(held.id).processing_status in ("canceling", "ended")
    assert [r.result.type for r in client.messages.batches.results(held.id)] == ["canceled"]
    emulator.configure(batch_hold=False, batch_expire_fraction=0.5)
    half = client.messages.batches.create(
        requests=[{"custom_id": f"x{i}", "params": params(f"q{i}")} for i in range(4)]
    )
    assert client.messages.batches.retrieve(half.id).request_counts.expired == 2
    assert sorted(r.result.type for r in client.messages.batches.results(half.id)) == [
        "expired", "expired", "succeeded", "succeeded"
    ]  # fmt: skip


def test_batch_requests_are_accounted_at_batch_prices(emulator: RunningEmulator) -> None:
    client = oa(emulator)
    batch = client.batches.retrieve(create(client, upload(client, [line(f"p{i}", f"q {i}") for i in range(3)])))
    assert batch.output_file_id is not None
    pricing = PricingTable.load()
    expected = 0.0
    for row in jsonl(client.files.content(batch.output_file_id).text):
        usage = row["response"]["body"]["usage"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        tokens = Usage(input_tokens=usage["prompt_tokens"] - cached, cache_read_tokens=cached,
                       output_tokens=usage["completion_tokens"])  # fmt: skip
        expected += pricing.cost(MODEL, tokens, batch=True).usd
    stats = emulator.stats()
    assert stats["usd_batch"] == pytest.approx(expected) and stats["usd_total"] == pytest.approx(expected)
    assert stats["by_model"][MODEL]["batch_requests"] == 3
    assert stats["batches"] == [{"provider": "openai", "id": batch.id, "model": MODEL, "requests": 3}]


def clients(emulator: RunningEmulator) -> tuple[OpenAIBatchClient, AnthropicBatchClient]:
    policy = CallPolicy(PricingTable.load(), RetrySettings())
    o, a = oa(emulator), an(emulator)
    return (
        OpenAIBatchClient(o, OpenAIProvider(o, policy), RetrySettings()),
        AnthropicBatchClient(a, AnthropicProvider(a, policy), RetrySettings()),
    )


def item(custom_id: str, provider: str, model: str, text: str) -> BatchItem:
    request = CacheRequest.model_validate(
        {"provider": provider, "model": model, "messages": [{"role": "user", "content": text}],
         "params": {"max_tokens": 100}}
    )  # fmt: skip
    return BatchItem(custom_id=custom_id, request=request)


def test_clients_map_partial_outcomes_to_retryable_errors(emulator: RunningEmulator) -> None:
    emulator.configure(batch_request_faults={"q 1": "500", "q 2": "400"}, batch_expire_fraction=0.25, batch_hold=True)
    pricing = PricingTable.load()
    cases: list[tuple[BatchAPIClient, str, str]] = [(clients(emulator)[0], "openai", MODEL)]
    cases.append((clients(emulator)[1], "anthropic", CLAUDE))
    for client, provider, model in cases:
        job = client.submit([item(f"k{i}", provider, model, f"q {i}") for i in range(4)])
        released: list[float] = []

        def release(seconds: float, released: list[float] = released) -> None:
            released.append(seconds)
            emulator.release_batches()

        progress = wait_until_ended(client, job.batch_id, PollPolicy(initial_seconds=0.01), sleep=release)
        assert progress.ended and released  # it had to wait at least once: the batch was held
        results = {r.custom_id: r for r in client.results(job)}
        assert results["k0"].completion is not None and results["k0"].error is None
        completion = results["k0"].completion
        assert completion.cost_usd == pytest.approx(pricing.cost(model, completion.usage, batch=True).usd)
        assert results["k1"].error is not None and results["k1"].error.retryable and results["k1"].error.status == 500
        assert results["k2"].error is not None and not results["k2"].error.retryable
        assert results["k3"].error is not None and results["k3"].error.retryable  # expired
        emulator.reset()
        emulator.configure(batch_request_faults={"q 1": "500", "q 2": "400"}, batch_expire_fraction=0.25)


def limited(emulator: RunningEmulator, limits: BatchLimits) -> AnthropicBatchClient:
    client = an(emulator)
    policy = CallPolicy(PricingTable.load(), RetrySettings())
    return AnthropicBatchClient(client, AnthropicProvider(client, policy), RetrySettings(), limits)


def test_split_respects_request_byte_and_model_limits(emulator: RunningEmulator) -> None:
    openai_client, anthropic_client = clients(emulator)
    items = [item(f"o{i}", "openai", MODEL if i % 2 else "gpt-4.1", f"q {i}") for i in range(10)]
    groups = split(openai_client, items)
    assert all(len({i.request.model for i in g}) == 1 for g in groups) and len(groups) == 2
    small = limited(emulator, BatchLimits(max_requests=3, max_bytes=10_000))
    claude = [item(f"a{i}", "anthropic", CLAUDE, f"q {i}") for i in range(7)]
    assert [len(g) for g in split(small, claude)] == [3, 3, 1]
    size = len(small.encode(claude[0])) + 1
    tight = limited(emulator, BatchLimits(max_requests=100, max_bytes=2 * size + 1))
    assert [len(g) for g in split(tight, claude)] == [2, 2, 2, 1]
    assert len(split(anthropic_client, claude)) == 1  # Anthropic mixes models and fits 100,000 requests


def test_results_come_in_no_particular_order(emulator: RunningEmulator) -> None:
    client = oa(emulator)
    batch = client.batches.retrieve(create(client, upload(client, [line(f"u{i:02d}", f"q {i}") for i in range(30)])))
    assert batch.output_file_id is not None
    order = [r["custom_id"] for r in jsonl(client.files.content(batch.output_file_id).text)]
    assert sorted(order) == [f"u{i:02d}" for i in range(30)] and order != sorted(order)
    requests: Any = [{"custom_id": f"m{i:02d}", "params": params(f"q {i}")} for i in range(30)]
    created = an(emulator).messages.batches.create(requests=requests)
    got = [r.custom_id for r in an(emulator).messages.batches.results(created.id)]
    assert sorted(got) == [f"m{i:02d}" for i in range(30)] and got != sorted(got)
