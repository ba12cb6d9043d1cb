"""A rate limit per provider and model (requests and tokens per minute) shared by every worker through Redis.

GCRA in one Lua script over two buckets, with Redis's clock (no skew between hosts): a request passes when both
buckets allow it and then charges both; otherwise nothing is charged and the caller learns how long to wait.
Callers wait rather than fail (up to `max_wait_seconds`). A full minute's quota may be used in a burst.
"""

from __future__ import annotations

import time

import redis

from llmcache.shared.config import RateLimit
from llmcache.shared.errors import RateLimitWaitTooLongError, wraps_backend_errors
from llmcache.shared.redis_keys import Keyspace

WINDOW_MS = 60_000
_redis_errors = wraps_backend_errors("redis", (redis.RedisError,))  # a Redis failure is not a provider error

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local new_tats = {}
for i = 1, 2 do
  local rate = tonumber(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  if rate > 0 then
    local interval = 60000 / rate
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    local allow_at = new_tat - 60000
    if allow_at > now and allow_at - now > wait then wait = allow_at - now end
    new_tats[i] = new_tat
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if new_tats[i] then
    redis.call('SET', KEYS[i], new_tats[i], 'PX', math.ceil(new_tats[i] - now) + 1000)
  end
end
return 0
"""


class SharedRateLimiter:
    def __init__(self, client: redis.Redis, keyspace: Keyspace, max_wait_seconds: float = 120.0) -> None:
        self._redis = client
        self._keys = keyspace
        self._script = client.register_script(_GCRA)
        self._max_wait = max_wait_seconds

    @_redis_errors
    def try_acquire(self, provider: str, model: str, limit: RateLimit, tokens: int) -> float:
        """0.0 when the request may go now (and is charged); otherwise the seconds to wait (nothing charged)."""
        token_cost = min(tokens, limit.tokens_per_minute) if limit.tokens_per_minute else 0
        keys = [self._keys.rate_bucket(provider, model, "requests"), self._keys.rate_bucket(provider, model, "tokens")]
        wait_ms = self._script(keys=keys, args=[limit.requests_per_minute, 1, limit.tokens_per_minute, token_cost])
        return float(wait_ms) / 1000

    def acquire(self, provider: str, model: str, limit: RateLimit, tokens: int) -> float:
        """Blocks until the request may go; returns the seconds waited."""
        if not limit.requests_per_minute and not limit.tokens_per_minute:
            return 0.0
        waited = 0.0
        while (wait := self.try_acquire(provider, model, limit, tokens)) > 0:
            if waited + wait > self._max_wait:
                raise RateLimitWaitTooLongError(f"{provider}/{model}", waited + wait, self._max_wait)
            time.sleep(wait)  # the bucket says exactly when capacity frees up
            waited += wait
        return waited
