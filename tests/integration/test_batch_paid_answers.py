"""Paid answers are never lost in the batch path: when Redis goes away between the provider's answers and their
store, the answering task still hands every answer out, marked as not stored, with a warning. Real Redis (a
private redis-server, stopped by the test), the real Edge shard, the real OpenAI SDK against the emulator (an
emulator, not a real provider)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import structlog

from llmcache.shared.answering.base import MissOutcome, MissRequest
from llmcache.shared.answering.sync_sdk import SyncSDKAnswerer
from llmcache.shared.config import load_settings
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.pricing import PricingTable
from llmcache.shared.runtime import build_runtime
from llmcache.testing.emulator.server import RunningEmulator
from llmcache.workers.batch.formats import LineOptions
from llmcache.workers.batch.messages import AnswerChunk, AnswerItem, ChunkLine, ChunkResult, RunSpec
from llmcache.workers.batch.misses import MissAnswering
from tests.conftest import PrivateRedis


class RedisGoesAwayAfterAnswering:
    """The sync-SDK answerer, and then the private Redis stops: before the first answer is handed back for storing."""

    def __init__(self, inner: SyncSDKAnswerer, redis: PrivateRedis) -> None:
        self._inner = inner
        self._redis = redis

    @property
    def name(self) -> str:
        return "sync-sdk, then Redis stops"

    def answer(self, misses: Sequence[MissRequest]) -> Iterator[MissOutcome]:
        outcomes = list(self._inner.answer(misses))
        self._redis.stop()
        yield from outcomes


def line(number: int, question: str) -> ChunkLine:
    raw = {"custom_id": f"p{number}", "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}}  # fmt: skip
    return ChunkLine(line=number, custom_id=f"p{number}", digest=f"d{number}", text=json.dumps(raw))


def test_answers_are_written_when_their_store_fails(
    private_redis: PrivateRedis, emulator: RunningEmulator, embedder: Embedder, tmp_path: Path
) -> None:
    settings = load_settings(
        redis_url=private_redis.url, key_prefix="paid", data_dir=tmp_path,
        providers={"openai_api_key": "emulator-key", "openai_base_url": emulator.openai_base_url},
    )  # fmt: skip
    runtime = build_runtime(settings, embedder=embedder)
    try:
        answerer = RedisGoesAwayAfterAnswering(
            SyncSDKAnswerer(build_providers(settings, runtime.redis), concurrency=4), private_redis
        )
        answering = MissAnswering(
            runtime.cache, answerer, frozenset(settings.namespaces), PricingTable.load(), store_every=100
        )
        questions = ["How do I export my invoices?", "Can I rename my workspace?", "Where is my API key?"]
        items = [AnswerItem(key=f"k{i}", line=line(i, q)) for i, q in enumerate(questions, 1)]
        spec = RunSpec(run_id="r", key_prefix="paid", fmt="openai", defaults=LineOptions(), max_prompt_chars=10_000)
        pushed: list[ChunkResult] = []
        with structlog.testing.capture_logs() as logs:
            answering.run(AnswerChunk(run=spec, chunk_id="a1.0", items=items), pushed.append)
    finally:
        runtime.close()
    rows = [row for result in pushed for row in result.rows]
    assert pushed[-1].done
    assert sorted(row.line for row in rows) == [1, 2, 3]
    assert all(row.outcome == "miss" and row.provider_called and row.paid_not_stored for row in rows)
    for row in rows:
        body = json.loads(row.text)["response"]["body"]
        assert body["choices"][0]["message"]["content"]  # the answer itself is there
    assert emulator.stats()["by_model"]["gpt-4o-mini"]["calls"] == 3
    warnings = [entry for entry in logs if entry["event"] == "paid_answers_not_stored"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning" and warnings[0]["answers"] == 3
