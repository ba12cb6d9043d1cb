"""Builds the cache's resources from settings, at start-up (never at import), and closes them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
import structlog

from llmcache.shared.cache import LLMCache
from llmcache.shared.config import Settings
from llmcache.shared.embedding.base import Embedder
from llmcache.shared.entry_store import EntryStore, VersionRegistry
from llmcache.shared.guard.judge import EquivalenceJudge
from llmcache.shared.guard.learned import LearnedVerifier
from llmcache.shared.guard.pair_model import loaded_pair_model
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.index.base import VectorIndex
from llmcache.shared.models import CacheEntry
from llmcache.shared.redis_keys import Keyspace

log = structlog.get_logger(__name__)


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding.backend == "openai":
        from openai import OpenAI

        from llmcache.shared.embedding.openai_embedder import OpenAIEmbedder

        providers = settings.providers
        key = providers.openai_api_key.get_secret_value() if providers.openai_api_key else None
        client = OpenAI(api_key=key, base_url=providers.openai_base_url, max_retries=2)
        return OpenAIEmbedder(client, settings.embedding.openai_model, settings.embedding.openai_dimensions)
    from llmcache.shared.embedding.minilm import MiniLMEmbedder

    return MiniLMEmbedder(
        intra_op_threads=settings.embedding.intra_op_threads, batch_size=settings.embedding.batch_size
    )


def build_index(settings: Settings, dimension: int) -> VectorIndex:
    q = settings.qdrant
    index: VectorIndex
    if q.url or q.location:
        from qdrant_client import QdrantClient

        from llmcache.shared.index.server import ServerVectorIndex

        api_key = q.api_key.get_secret_value() if q.api_key else None
        client = QdrantClient(url=q.url, api_key=api_key) if q.url else QdrantClient(location=q.location)
        index = ServerVectorIndex(client, q.collection, dimension, q.hnsw_m, q.hnsw_ef_construct)
    else:
        from llmcache.shared.index.edge import EdgeVectorIndex

        index = EdgeVectorIndex(settings.edge_shard_path, dimension, q.hnsw_m, q.hnsw_ef_construct)
    index.ensure_ready()
    return index


@dataclass
class CacheRuntime:
    cache: LLMCache
    redis: redis.Redis
    index: VectorIndex
    embedder: Embedder
    keyspace: Keyspace
    guard: FalseHitGuard

    def close(self) -> None:
        self.index.close()
        self.redis.close()


def build_runtime(settings: Settings, embedder: Embedder | None = None) -> CacheRuntime:
    """`embedder` may be passed in to share one loaded model between runtimes (tests, benchmarks)."""
    client = redis.Redis.from_url(settings.redis_url)
    keyspace = Keyspace(settings.key_prefix)
    model = embedder or build_embedder(settings)
    index = build_index(settings, model.dimension)
    guard = build_guard(settings, model)
    cache = LLMCache(
        settings.namespaces,
        store=EntryStore(client, keyspace),
        versions=VersionRegistry(client, keyspace),
        index=index,
        embedder=model,
        guard=guard,
        on_alias_failure=alias_failure_counter(client, keyspace),
    )
    return CacheRuntime(cache=cache, redis=client, index=index, embedder=model, keyspace=keyspace, guard=guard)


def alias_failure_counter(client: redis.Redis, keyspace: Keyspace) -> Callable[[Sequence[CacheEntry]], None]:
    """Counts alias entries whose write failed ("alias_failed", per namespace and model; the recorder is built on
    the first failure)."""
    from llmcache.shared.metrics import MetricsRecorder

    recorders: list[MetricsRecorder] = []

    def count(entries: Sequence[CacheEntry]) -> None:
        if not recorders:
            recorders.append(MetricsRecorder(client, keyspace))
        for (namespace, model), amount in Counter((e.namespace, e.completion.model) for e in entries).items():
            recorders[0].count(namespace, model, "alias_failed", amount)

    return count


def build_guard(settings: Settings, embedder: Embedder) -> FalseHitGuard:
    """Loads the learned verifier now, so that a missing or damaged model fails the start, not a lookup; leaves it
    out when no namespace uses it or when the embedder is not the one it was trained on."""
    wanted = any(p.guard and p.pair_model for p in settings.namespaces.values())
    pair_model = loaded_pair_model(int8=settings.guard.pair_model_precision == "int8") if wanted else None
    judge = build_judge(settings) if pair_model is not None else None
    if not any(policy.guard and policy.verifier for policy in settings.namespaces.values()):
        return FalseHitGuard(pair_model=pair_model, judge=judge)
    verifier = LearnedVerifier()
    if not verifier.serves(embedder.model_name, embedder.dimension):
        log.warning(
            "guard_verifier_off",
            reason="the verifier was trained on another embedder's vectors; the rules decide alone",
            embedder=embedder.model_name,
            trained_on=verifier.card.embedder_model,
        )
        return FalseHitGuard(pair_model=pair_model, judge=judge)
    return FalseHitGuard(verifier=verifier, pair_model=pair_model, judge=judge)


def build_judge(settings: Settings) -> EquivalenceJudge | None:
    """The uncertainty band's judge, where a namespace sends its uncertain candidates to one (the first such
    namespace's provider and model), through the same providers layer as every other call."""
    judging = [p for p in settings.namespaces.values() if p.guard and p.pair_model and p.uncertain == "judge"]
    if not judging:
        return None
    from llmcache.shared.providers.factory import build_providers

    client = redis.Redis.from_url(settings.redis_url)
    providers = build_providers(settings, client)
    first = judging[0]
    return EquivalenceJudge(providers[first.judge_provider], first.judge_model, client, settings.key_prefix)
