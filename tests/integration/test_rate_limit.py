"""The shared rate limit on real Redis: one budget for every process."""

from __future__ import annotations

import multiprocessing
import time

import redis

from llmcache.shared.config import RateLimit
from llmcache.shared.providers.ratelimit import SharedRateLimiter
from llmcache.shared.redis_keys import Keyspace

LIMIT = RateLimit(requests_per_minute=12)


def _worker(redis_url: str, prefix: str, attempts: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = SharedRateLimiter(redis.Redis.from_url(redis_url), Keyspace(prefix))
    granted = sum(limiter.try_acquire("openai", "gpt-4o-mini", LIMIT, tokens=10) == 0 for _ in range(attempts))
    results.put(granted)


def test_limit_holds_across_two_processes(redis_url: str, key_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    started = time.monotonic()
    workers = [context.Process(target=_worker, args=(redis_url, key_prefix, 12, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    elapsed = time.monotonic() - started
    granted = results.get(timeout=5) + results.get(timeout=5)
    # a minute's quota (12) may burst; after that one more every 5 s. 24 attempts were made.
    assert 12 <= granted <= 12 + int(elapsed / 5) + 1
    assert granted < 24


def test_tokens_per_minute_is_shared_too(redis_url: str, key_prefix: str) -> None:
    limiter = SharedRateLimiter(redis.Redis.from_url(redis_url), Keyspace(key_prefix))
    limit = RateLimit(tokens_per_minute=1000)
    assert limiter.try_acquire("anthropic", "m", limit, tokens=600) == 0
    wait = limiter.try_acquire("anthropic", "m", limit, tokens=600)
    assert 0 < wait <= 60  # 200 tokens over budget: ~12 s until they have trickled back
    assert limiter.try_acquire("anthropic", "other-model", limit, tokens=600) == 0  # buckets are per model


def test_acquire_waits_instead_of_failing(redis_url: str, key_prefix: str) -> None:
    limiter = SharedRateLimiter(redis.Redis.from_url(redis_url), Keyspace(key_prefix))
    limit = RateLimit(requests_per_minute=30)  # after the burst, one every 2 s
    granted = 0
    while limiter.try_acquire("openai", "m", limit, tokens=1) == 0:  # use up the burst, however long it takes
        granted += 1
    assert granted >= 30
    waited = limiter.acquire("openai", "m", limit, tokens=1)
    assert 0 < waited <= 2.0


def test_wait_longer_than_allowed_raises(redis_url: str, key_prefix: str) -> None:
    import pytest

    from llmcache.shared.errors import RateLimitWaitTooLongError

    limiter = SharedRateLimiter(redis.Redis.from_url(redis_url), Keyspace(key_prefix), max_wait_seconds=1)
    slow = RateLimit(requests_per_minute=1)
    limiter.acquire("openai", "m", slow, tokens=1)
    with pytest.raises(RateLimitWaitTooLongError, match="openai/m"):
        limiter.acquire("openai", "m", slow, tokens=1)
