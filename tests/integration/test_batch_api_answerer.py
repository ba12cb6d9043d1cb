"""The Batch APIs as a MissAnswerer (shared/providers/batch_api/answerer.py) over the real SDKs and the emulator's
in-process transport (an emulator, not a real provider), with the file ledger of `--via batch-api`: recorded jobs
are waited for, never submitted twice; a request of no recorded job is sent in a new one."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2
import openai

from llmcache.shared.answering.base import Answered, Failed, MissRequest
from llmcache.shared.config import RetrySettings
from llmcache.shared.models import CacheRequest, ProviderName
from llmcache.shared.providers.anthropic_provider import AnthropicProvider
from llmcache.shared.providers.base import CallPolicy
from llmcache.shared.providers.batch_api.answerer import BatchAPIAnswerer, custom_id_for
from llmcache.shared.providers.batch_api.anthropic_batches import AnthropicBatchClient
from llmcache.shared.providers.batch_api.base import BatchAPIClient, PollPolicy
from llmcache.shared.providers.batch_api.openai_batches import OpenAIBatchClient
from llmcache.shared.providers.openai_provider import OpenAIProvider
from llmcache.shared.providers.pricing import PricingTable
from llmcache.testing.emulator.transport import EmulatorTransport
from llmcache.workers.via_batch_api import FileLedger, state_path

POLL = PollPolicy(initial_seconds=0.01, max_seconds=0.05)


def batch_clients(transport: EmulatorTransport) -> dict[ProviderName, BatchAPIClient]:
    http = httpx2.Client(transport=transport)
    policy = CallPolicy(PricingTable.load(), RetrySettings())
    o = openai.OpenAI(api_key="k", base_url="http://emulator/v1", http_client=http, max_retries=0)
    a = anthropic.Anthropic(api_key="k", base_url="http://emulator", http_client=http, max_retries=0)
    return {
        "openai": OpenAIBatchClient(o, OpenAIProvider(o, policy), RetrySettings()),
        "anthropic": AnthropicBatchClient(a, AnthropicProvider(a, policy), RetrySettings()),
    }


def miss(key: str, provider: str, model: str) -> MissRequest:
    request = CacheRequest.model_validate(
        {"provider": provider, "model": model, "messages": [{"role": "user", "content": f"question {key}"}],
         "params": {"max_tokens": 64}}
    )  # fmt: skip
    return MissRequest(key=key, request=request)


def test_a_restarted_answer_waits_for_recorded_jobs_and_submits_only_new_requests(tmp_path: Path) -> None:
    transport = EmulatorTransport()
    transport.configure(batch_hold=True, batch_request_faults={"question o2": "400"})
    output = tmp_path / "out.jsonl"
    misses = [miss(f"o{i}", "openai", "gpt-4o-mini") for i in range(3)]
    misses += [miss(f"a{i}", "anthropic", "claude-haiku-4-5") for i in range(2)]
    first = BatchAPIAnswerer(batch_clients(transport), FileLedger(output, tmp_path / "in.jsonl"), poll=POLL)
    first.submit(misses)  # a run stopped right after submitting: its jobs are on record
    recorded = json.loads(state_path(output).read_text())["jobs"]
    assert [(r["job"]["provider"], len(r["job"]["custom_ids"]), r["collected"]) for r in recorded] == [
        ("openai", 3, False),
        ("anthropic", 2, False),
    ]
    transport.state.batches_released.set()
    extra = miss("o9", "openai", "gpt-4o-mini")
    again = BatchAPIAnswerer(batch_clients(transport), FileLedger(output, tmp_path / "in.jsonl"), poll=POLL)
    outcomes = {o.key: o for o in again.answer([*misses, extra])}
    assert set(outcomes) == {m.key for m in [*misses, extra]}
    assert [len(job.custom_ids) for job in again.submitted] == [1]  # only the new request
    assert [job.batch_id for job in again.resumed] == [r["job"]["batch_id"] for r in recorded]
    seen = sorted((b["provider"], b["requests"]) for b in transport.stats()["batches"])
    assert seen == [("anthropic", 2), ("openai", 1), ("openai", 3)]
    failed = outcomes["o2"]
    assert isinstance(failed, Failed) and not failed.error.retryable and failed.error.status == 400
    assert all(isinstance(outcomes[k], Answered) for k in ("o0", "o1", "a0", "a1", "o9"))
    assert all(r["collected"] for r in json.loads(state_path(output).read_text())["jobs"])
    assert custom_id_for("o0") in json.loads(state_path(output).read_text())["jobs"][0]["job"]["custom_ids"]
