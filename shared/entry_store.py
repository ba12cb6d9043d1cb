"""Entry bodies on Redis: JSON bodies with EXPIRE, plus a per-namespace expiry index for sweeps and purges.
Every Redis error leaves these classes as a `BackendError` naming the method."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

import redis

from llmcache.shared.errors import wraps_backend_errors
from llmcache.shared.models import CacheEntry
from llmcache.shared.redis_keys import Keyspace

_SCAN_BATCH = 500
# decoded bodies kept per store, keyed by their exact bytes: a batch file reads its popular answers over and over,
# and validating a ~3 KB body costs more than the rest of an exact hit's lookup. A body is immutable once decoded
# (frozen models), and expiry is checked on every read, so a memo hit is the very entry the bytes describe.
DECODED_BODIES = 2048
# one alias: its body only where no body is (NX: an answer of its own is never replaced by an alias), then its
# index row, and its id in its source's alias set (which lives as long as the longest-lived alias in it)
_PUT_ALIASES = """
local written = 0
local n = #ARGV / 5
for i = 0, n - 1 do
  local entry, index, aliases, namespaces = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
  local body, ttl, score, id, namespace = ARGV[5 * i + 1], tonumber(ARGV[5 * i + 2]), ARGV[5 * i + 3],
    ARGV[5 * i + 4], ARGV[5 * i + 5]
  if redis.call('SET', entry, body, 'EX', ttl, 'NX') then
    redis.call('ZADD', index, score, id)
    redis.call('SADD', aliases, id)
    if redis.call('TTL', aliases) < ttl then
      redis.call('EXPIRE', aliases, ttl)
    end
    redis.call('SADD', namespaces, namespace)
    written = written + 1
  end
end
return written
"""
_redis_errors = wraps_backend_errors("redis", (redis.RedisError,))


class EntryStore:
    """Bodies live at `entry:<id>` with the namespace TTL; `ns-entries:<ns>` (ZSET id -> expires_at) lists them."""

    def __init__(self, client: redis.Redis, keyspace: Keyspace) -> None:
        self._redis = client
        self._keys = keyspace
        self._put_aliases = client.register_script(_PUT_ALIASES)
        self._decode: Callable[[bytes | str], CacheEntry] = functools.lru_cache(maxsize=DECODED_BODIES)(
            CacheEntry.model_validate_json
        )

    @_redis_errors
    def get(self, entry_id: str) -> CacheEntry | None:
        raw = self._redis.get(self._keys.entry(entry_id))
        return None if raw is None else self._decode(raw)

    @_redis_errors
    def get_many(self, entry_ids: Sequence[str]) -> list[CacheEntry | None]:
        if not entry_ids:
            return []
        raws = self._redis.mget([self._keys.entry(i) for i in entry_ids])
        return [None if raw is None else self._decode(raw) for raw in raws]

    @_redis_errors
    def put(self, entry: CacheEntry, ttl_seconds: int) -> None:
        self.put_many([(entry, ttl_seconds)])

    @_redis_errors
    def put_many(self, entries: Sequence[tuple[CacheEntry, int]]) -> None:
        """Bodies with their TTLs and index rows, in one round trip (MULTI: a body is never left unindexed)."""
        if not entries:
            return
        pipe = self._redis.pipeline(transaction=True)
        for entry, ttl_seconds in entries:
            pipe.set(self._keys.entry(entry.entry_id), _body(entry), ex=ttl_seconds)
            pipe.zadd(self._keys.namespace_index(entry.namespace), {entry.entry_id: entry.expires_at.timestamp()})
        pipe.sadd(self._keys.namespaces(), *{entry.namespace for entry, _ in entries})
        pipe.execute()

    @_redis_errors
    def put_aliases(self, entries: Sequence[tuple[CacheEntry, int]]) -> int:
        """Alias entries (`entry.alias` set) with their TTLs, in one round trip; each is written only where its key
        holds no body (a request's own answer is never replaced by an alias). Returns how many were written."""
        keys: list[str] = []
        args: list[str | int | float] = []
        for entry, ttl_seconds in entries:
            assert entry.alias is not None, "put_aliases writes alias entries only"
            keys += [
                self._keys.entry(entry.entry_id),
                self._keys.namespace_index(entry.namespace),
                self._keys.entry_aliases(entry.alias.source_id),
                self._keys.namespaces(),
            ]
            args += [_body(entry), ttl_seconds, entry.expires_at.timestamp(), entry.entry_id, entry.namespace]
        if not keys:
            return 0
        return int(self._put_aliases(keys=keys, args=args))

    @_redis_errors
    def aliases_of(self, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the alias entries written from each of these entries (some may be gone or replaced since)."""
        if not entry_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.smembers(self._keys.entry_aliases(entry_id))
        found = pipe.execute()
        return {
            entry_id: sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
            for entry_id, members in zip(entry_ids, found, strict=True)
            if members
        }

    @_redis_errors
    def delete(self, entries: Iterable[tuple[str, str]]) -> int:
        """Delete (namespace, entry_id) pairs, with each entry's alias set; returns how many bodies existed."""
        pipe = self._redis.pipeline(transaction=False)
        count = 0
        for namespace, entry_id in entries:
            pipe.delete(self._keys.entry(entry_id))
            pipe.zrem(self._keys.namespace_index(namespace), entry_id)
            pipe.delete(self._keys.entry_aliases(entry_id))
            count += 1
        if count == 0:
            return 0
        results = pipe.execute()
        return sum(int(r) for r in results[0::3])

    @_redis_errors
    def namespaces(self) -> set[str]:
        return {m.decode() if isinstance(m, bytes) else str(m) for m in self._redis.smembers(self._keys.namespaces())}

    @_redis_errors
    def expired_ids(self, namespace: str, now: datetime) -> list[str]:
        ids = self._redis.zrangebyscore(self._keys.namespace_index(namespace), "-inf", now.timestamp())
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    @_redis_errors
    def iter_entries(self, namespace: str) -> Iterator[tuple[str, CacheEntry | None]]:
        """Every indexed id of a namespace with its body (None when the body already expired)."""
        key = self._keys.namespace_index(namespace)
        cursor = 0
        while True:
            cursor, members = self._redis.zscan(key, cursor=cursor, count=_SCAN_BATCH)
            ids = [m[0].decode() if isinstance(m[0], bytes) else str(m[0]) for m in members]
            yield from zip(ids, self.get_many(ids), strict=True)
            if cursor == 0:
                return

    @_redis_errors
    def count(self, namespace: str) -> int:
        return int(self._redis.zcard(self._keys.namespace_index(namespace)))


def _body(entry: CacheEntry) -> str:
    # an entry of its own is written without the alias field, as before aliases: older readers still parse it
    return entry.model_dump_json(exclude={"alias"} if entry.alias is None else None)


class VersionRegistry:
    """The current prompt version of each namespace, in Redis so that a bump is seen by every process at once."""

    def __init__(self, client: redis.Redis, keyspace: Keyspace) -> None:
        self._redis = client
        self._keys = keyspace

    @_redis_errors
    def current(self, namespace: str, default: str) -> str:
        raw = self._redis.get(self._keys.current_version(namespace))
        if raw is None:
            return default
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    @_redis_errors
    def set(self, namespace: str, version: str) -> None:
        self._redis.set(self._keys.current_version(namespace), version)
