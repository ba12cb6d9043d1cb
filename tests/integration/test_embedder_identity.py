"""A same-dimension embedder swap never compares two vector spaces: the embedder's identity is in the context
fingerprint and the point payload, so entries stored under one model are invisible to another's semantic lookups,
while exact hits (the same request) still serve and alias entries (judgements made in the other space) do not.
Real Redis and Qdrant Edge, the real MiniLM."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcache.shared.embedding.base import Embedder, Vectors
from llmcache.shared.entry_store import EntryStore
from llmcache.shared.models import CacheRequest, Completion, ExactHit, Message, Miss, SemanticHit
from llmcache.shared.runtime import build_runtime
from tests.conftest import make_settings


class Retagged:
    """The same model under another version tag, as a fine-tune of the same shape would be: real vectors."""

    def __init__(self, inner: Embedder, version: str) -> None:
        self._inner, self.model_version = inner, version

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def model_name(self) -> str:
        return self._inner.model_name

    def embed(self, text: str) -> Vectors:
        return self._inner.embed(text)

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        return self._inner.embed_batch(texts)


def _request(text: str) -> CacheRequest:
    return CacheRequest(provider="openai", model="gpt-4o-mini", messages=[Message(role="user", content=text)])


@pytest.mark.parametrize("engine", ["edge"], indirect=True)
def test_entries_of_another_embedder_are_not_semantic_candidates(
    engine: str, tmp_path: Path, redis_url: str, key_prefix: str, embedder: Embedder
) -> None:
    settings = make_settings(engine, tmp_path, redis_url, key_prefix)
    stored, reworded = "How do I reset my password?", "How can I reset my password?"
    first = build_runtime(settings, embedder=embedder)
    try:
        miss = first.cache.lookup(_request(stored))
        assert isinstance(miss, Miss)
        answer = Completion(provider="openai", model="gpt-4o-mini", text="Settings, Security.", finish_reason="stop")
        first.cache.store(_request(stored), answer, miss=miss)
        assert isinstance(first.cache.lookup(_request(reworded)), SemanticHit)  # same space: a paraphrase hits
        assert isinstance(first.cache.lookup(_request(reworded)), ExactHit)  # ... and wrote its alias entry
    finally:
        first.close()
    second = build_runtime(settings, embedder=Retagged(embedder, "another-version"))
    try:
        # other space: never compared; the first space's alias (a judgement made there) is not served either
        other_space = second.cache.lookup(_request(reworded))
        assert isinstance(other_space, Miss) and other_space.request_key is not None
        # the stale alias is gone, not left to block the next alias under this key
        assert EntryStore(second.redis, second.keyspace).get(other_space.request_key) is None
        assert isinstance(second.cache.lookup(_request(stored)), ExactHit)  # the same request still serves
    finally:
        second.close()
