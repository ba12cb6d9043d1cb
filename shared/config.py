"""Settings: plain data read from the environment (prefix LLMCACHE_, nested sections joined by `__`).

Build one `Settings` at start-up and pass it in; nothing here connects to anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmcache.shared.errors import ConfigurationError
from llmcache.shared.policy import NamespacePolicy, seed_policies


class QdrantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None  # set -> Qdrant server (cluster); unset -> embedded Qdrant Edge shard
    api_key: SecretStr | None = None  # never printed: read with .get_secret_value() where a client is built
    location: str | None = None  # e.g. ":memory:" for qdrant-client's local mode (tests)
    collection: str = "llmcache"
    edge_path: Path | None = None  # default: <data_dir>/edge-shard
    hnsw_m: Annotated[int, Field(ge=4)] = 16
    hnsw_ef_construct: Annotated[int, Field(ge=8)] = 100


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["minilm", "openai"] = "minilm"
    openai_model: str = "text-embedding-3-small"
    openai_dimensions: int | None = None
    intra_op_threads: Annotated[int, Field(ge=1)] = 2  # measured: 2 threads cut single-query p50 ~25% here
    batch_size: Annotated[int, Field(ge=1)] = 64


class GuardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the pair model's linear layers: float32 (the default, what the namespace defaults were tuned on) or int8
    # (about 1.4x faster on a 2-core x86 CPU, scores move by a logit of 0.26 on average; docs/quality.md)
    pair_model_precision: Literal["float32", "int8"] = "float32"


class RetrySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: Annotated[int, Field(ge=1)] = 6
    max_elapsed_seconds: Annotated[float, Field(gt=0)] = 300.0
    backoff_initial_seconds: Annotated[float, Field(gt=0)] = 0.5
    backoff_max_seconds: Annotated[float, Field(gt=0)] = 30.0
    retry_after_cap_seconds: Annotated[float, Field(gt=0)] = 60.0


class RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: Annotated[int, Field(ge=0)] = 0  # 0: unlimited
    tokens_per_minute: Annotated[int, Field(ge=0)] = 0


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # secrets: repr, logs and dumps show '**********'; read with .get_secret_value() where a client is built
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 120.0
    retry: RetrySettings = Field(default_factory=RetrySettings)
    # "provider/model" or "provider/*" -> limit shared by every worker through Redis
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    pricing_file: Path | None = None  # default: the table shipped in shared/data/pricing.json
    max_rate_limit_wait_seconds: Annotated[float, Field(gt=0)] = 120.0

    def limits_for(self, provider: str) -> dict[str, RateLimit]:
        """Model -> limit for one provider ("*" for its default)."""
        prefix = f"{provider}/"
        return {key[len(prefix) :]: limit for key, limit in self.rate_limits.items() if key.startswith(prefix)}


class WarmupTemplate(BaseModel):
    """How a plain-text intent line becomes a request (JSONL intent files carry full batch lines instead)."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "anthropic"] = "openai"
    model: str = "gpt-4o-mini"
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=lambda: {"max_tokens": 512})
    tenant: str = "default"


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker_url: str | None = None  # default: redis_url
    result_backend: str | None = None  # default: redis_url
    concurrency: Annotated[int, Field(ge=1)] = 8
    pool: Literal["threads", "prefork", "solo"] = "threads"
    inflight_lock_seconds: Annotated[float, Field(gt=0)] = 300.0  # a dead leader's lock frees after this
    job_time_limit_seconds: Annotated[float, Field(gt=0)] = 600.0
    visibility_timeout_seconds: Annotated[int, Field(gt=0)] = 3600  # above the longest job
    # a single job's result waits this long for its producer; batch runs use no result backend (workers/app.py caps
    # it at an hour too: a result backend holding every answer for days was 70-80 GB of Redis a million jobs a day)
    result_expires_seconds: Annotated[int, Field(gt=0)] = 3600
    warmup_dir: Path | None = None  # <namespace>.txt (one prompt a line) or <namespace>.jsonl (batch lines)
    warmup_refresh_before_seconds: Annotated[int, Field(ge=0)] = 3600
    warmup_template: WarmupTemplate = Field(default_factory=WarmupTemplate)
    warmup_hour_utc: Annotated[int, Field(ge=0, le=23)] = 3
    sweep_expired_seconds: Annotated[float, Field(gt=0)] = 600.0
    sweep_stale_versions_seconds: Annotated[float, Field(gt=0)] = 1800.0
    metrics_rollup_seconds: Annotated[float, Field(gt=0)] = 60.0
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 inside a container, so that Prometheus can scrape it
    beat_lock_seconds: Annotated[float, Field(gt=1)] = 30.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMCACHE_", env_nested_delimiter="__", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "llmcache"
    data_dir: Path = Path(".llmcache-data")
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    namespaces: dict[str, NamespacePolicy] = Field(default_factory=seed_policies)
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)

    policy_file: Path | None = None  # JSON {namespace: {policy field: value}}; default <data_dir>/policies.json

    @model_validator(mode="after")
    def _merge_seed_namespaces(self) -> Settings:
        # seed table < policy file (written by `llmcache tune --write`) < environment; one override keeps the rest
        merged = seed_policies()
        path = self.policy_file_path
        if path.is_file():
            try:
                overrides = json.loads(path.read_text())
                for name, fields in overrides.items():
                    base = merged.get(name, NamespacePolicy())
                    merged[name] = NamespacePolicy.model_validate(base.model_dump() | fields)
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as error:
                raise ConfigurationError(f"policy file {path}: {error}") from error
        if "namespaces" in self.model_fields_set:
            for name, policy in self.namespaces.items():  # only the fields actually given override
                base = merged.get(name, NamespacePolicy())
                merged[name] = base.model_copy(update={f: getattr(policy, f) for f in policy.model_fields_set})
        self.namespaces = merged
        return self

    @property
    def policy_file_path(self) -> Path:
        return self.policy_file or self.data_dir / "policies.json"

    @property
    def edge_shard_path(self) -> Path:
        return self.qdrant.edge_path or self.data_dir / "edge-shard"

    def policy(self, namespace: str) -> NamespacePolicy:
        try:
            return self.namespaces[namespace]
        except KeyError:
            known = ", ".join(sorted(self.namespaces))
            raise ConfigurationError(f"namespace {namespace!r} has no policy (known: {known})") from None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; `QDRANT_URL`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` are honoured too."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.qdrant.url is None and settings.qdrant.location is None and os.environ.get("QDRANT_URL"):
        settings.qdrant.url = os.environ["QDRANT_URL"]
    providers = settings.providers
    if providers.openai_api_key is None and os.environ.get("OPENAI_API_KEY"):
        providers.openai_api_key = SecretStr(os.environ["OPENAI_API_KEY"])
    if providers.anthropic_api_key is None and os.environ.get("ANTHROPIC_API_KEY"):
        providers.anthropic_api_key = SecretStr(os.environ["ANTHROPIC_API_KEY"])
    return settings
