"""A paid answer is never lost in the single-job path: when storing it, or writing the job's metrics, fails after the
provider call, the answer still comes back, a warning says so and `store_failed` counts it. Real Redis (a private
one that the test stops), a real Edge shard, the real OpenAI SDK against the provider emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import structlog

from llmcache.shared.coalesce import InflightCoordinator
from llmcache.shared.config import Settings
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.jobs import Job, JobOverrides, JobResult, Outcome
from llmcache.shared.metrics import MetricsRecorder
from llmcache.shared.models import CacheRequest, Completion, ExactHit, ProviderName
from llmcache.shared.pipeline import JobProcessor
from llmcache.shared.providers.base import Provider
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.prompt_cache import PromptCacheTTL
from llmcache.shared.redis_keys import Keyspace
from llmcache.shared.runtime import CacheRuntime, build_runtime
from llmcache.testing.emulator.server import RunningEmulator
from tests.conftest import PrivateRedis, emulator_settings, free_port, make_settings


def job(text: str, **overrides: Any) -> Job:
    request = CacheRequest.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": text}],
            "params": {"max_tokens": 100},
            "namespace": "faq",
            "scope": {"tenant": "acme"},
        }
    )
    return Job(request=request, overrides=JobOverrides(**overrides))


@dataclass
class Rig:
    runtime: CacheRuntime
    settings: Settings
    client: redis.Redis
    providers: dict[ProviderName, Provider]

    def processor(self, *, recorder_client: redis.Redis | None = None, **replace: Provider) -> JobProcessor:
        keys = Keyspace(self.settings.key_prefix)
        return JobProcessor(
            self.runtime.cache,
            {**self.providers, **replace},  # type: ignore[dict-item]
            InflightCoordinator(self.client, keys, 30, guard=self.runtime.guard),
            recorder=MetricsRecorder(recorder_client or self.client, keys),
        )

    def store_failures(self) -> int:
        counters = cast(dict[bytes, bytes], self.client.hgetall(Keyspace(self.settings.key_prefix).metrics_counters()))
        return sum(int(value) for key, value in counters.items() if key.endswith(b"|store_failed"))


def rig_on(redis_url: str, tmp_path: Path, key_prefix: str, embedder: Embedder, emulator: RunningEmulator) -> Rig:
    settings = make_settings("edge", tmp_path, redis_url, key_prefix)
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    providers = build_providers(emulator_settings(emulator, redis_url, key_prefix), client)
    return Rig(build_runtime(settings, embedder=embedder), settings, client, providers)


@pytest.fixture
def rig(
    tmp_path: Path, redis_url: str, key_prefix: str, embedder: Embedder, emulator: RunningEmulator
) -> Iterator[Rig]:
    built = rig_on(redis_url, tmp_path, key_prefix, embedder, emulator)
    yield built
    built.runtime.close()


class RedisStopsAfterTheAnswer:
    """The real provider; the private Redis stops the moment the answer has arrived (before the store)."""

    def __init__(self, inner: Provider, server: PrivateRedis) -> None:
        self._inner = inner
        self._server = server

    @property
    def name(self) -> ProviderName:
        return self._inner.name

    def complete(self, request: CacheRequest, *, prompt_cache_ttl: PromptCacheTTL = "5m") -> Completion:
        completion = self._inner.complete(request, prompt_cache_ttl=prompt_cache_ttl)
        self._server.stop()
        return completion


def assert_paid_and_returned(result: JobResult | object) -> JobResult:
    assert isinstance(result, JobResult)
    assert result.outcome is Outcome.MISS and result.provider_called
    assert result.completion is not None and result.completion.text
    assert result.cost_usd > 0 and not result.stored and result.error is None
    return result


def test_answer_comes_back_when_the_index_store_fails(rig: Rig, emulator: RunningEmulator) -> None:
    rig.runtime.index.close()  # a real Edge index that now raises BackendError on every call
    with structlog.testing.capture_logs() as logs:
        result = assert_paid_and_returned(rig.processor().process(job("How do I rotate my API key?", no_cache=True)))
    assert emulator.stats()["by_model"]["gpt-4o-mini"]["calls"] == 1
    warning = next(line for line in logs if line["event"] == "answer_not_stored")
    assert warning["log_level"] == "warning" and "BackendError" in warning["error"]
    assert warning["job_id"] == result.job_id
    assert rig.store_failures() == 1


def test_answer_comes_back_when_redis_goes_down_after_the_call(
    private_redis: PrivateRedis, tmp_path: Path, key_prefix: str, embedder: Embedder, emulator: RunningEmulator
) -> None:
    rig = rig_on(private_redis.url, tmp_path, key_prefix, embedder, emulator)
    try:
        processor = rig.processor(openai=RedisStopsAfterTheAnswer(rig.providers["openai"], private_redis))
        with structlog.testing.capture_logs() as logs:
            assert_paid_and_returned(processor.process(job("How do I export my invoices?")))
        events = {line["event"]: line for line in logs}
        for name in ("answer_not_stored", "inflight_lock_not_released", "metrics_not_recorded"):
            assert events[name]["log_level"] == "warning", name
        assert "redis failed" in events["answer_not_stored"]["error"]
        private_redis.start()  # a fresh, empty Redis: nothing was stored, and the next job pays again
        again = rig.processor().process(job("How do I export my invoices?"))
        assert isinstance(again, JobResult) and again.outcome is Outcome.MISS and again.stored
    finally:
        rig.runtime.close()


def test_answer_comes_back_when_the_metrics_write_fails(rig: Rig) -> None:
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=2)
    with structlog.testing.capture_logs() as logs:
        result = rig.processor(recorder_client=dead).process(job("How do I close my account?"))
    assert isinstance(result, JobResult) and result.outcome is Outcome.MISS and result.stored
    assert result.completion is not None and result.completion.text
    assert any(line["event"] == "metrics_not_recorded" and line["log_level"] == "warning" for line in logs)
    assert isinstance(rig.runtime.cache.lookup(job("How do I close my account?").request), ExactHit)
