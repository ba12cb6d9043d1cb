"""Entry bodies are decoded once per distinct body: a popular answer read again is the same object, and a body
rewritten under the same id is read afresh (the memo is keyed by the bytes, never by the id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from llmcache.shared.entry_store import EntryStore
from llmcache.shared.models import CacheEntry, Completion
from llmcache.shared.redis_keys import Keyspace


def _entry(text: str) -> CacheEntry:
    now = datetime.now(UTC)
    return CacheEntry(
        entry_id="e1",
        request_key="e1",
        context_fp="ctx",
        namespace="default",
        version="1",
        tenant="default",
        user=None,
        prompt_text="How do I reset my password?",
        completion=Completion(provider="openai", model="gpt-4o-mini", text=text),
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )


def test_a_body_read_again_is_decoded_once_and_a_rewritten_body_is_read_afresh(redis_url: str, key_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = EntryStore(client, Keyspace(key_prefix))
    try:
        store.put(_entry("first answer"), 3600)
        first = store.get("e1")
        again = store.get_many(["e1", "e1", "absent"])
        assert first is not None and first.completion.text == "first answer"
        assert again[0] is first and again[1] is first and again[2] is None

        store.put(_entry("second answer"), 3600)
        rewritten = store.get("e1")
        assert rewritten is not None and rewritten.completion.text == "second answer"

        assert store.delete([("default", "e1")]) == 1
        assert store.get("e1") is None
    finally:
        client.close()
