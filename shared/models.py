"""Data that crosses a boundary: requests, completions, cache entries and lookup outcomes (pydantic models)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

ProviderName = Literal["openai", "anthropic"]
Role = Literal["system", "developer", "user", "assistant", "tool"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(_Frozen):
    """One chat message. `content` is a string or a list of provider content parts (kept verbatim)."""

    role: Role
    content: str | list[dict[str, JsonValue]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, JsonValue]] | None = None
    tool_call_id: str | None = None


class Scope(_Frozen):
    """Who an answer may be served to: always a tenant; the user only in user-scoped namespaces."""

    tenant: Annotated[str, Field(min_length=1)] = "default"
    user: str | None = None


class CacheRequest(_Frozen):
    """Everything that can change the answer, plus where it belongs (namespace, scope).

    `params` holds every generation parameter sent to the provider (temperature, max_tokens, stop, tools,
    tool_choice, response_format, seed, reasoning/thinking, ...); unknown ones are keyed too.
    """

    provider: ProviderName
    model: Annotated[str, Field(min_length=1)]
    messages: Annotated[list[Message], Field(min_length=1)]
    system: str | list[dict[str, JsonValue]] | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    namespace: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")] = "default"
    scope: Scope = Field(default_factory=Scope)


class Usage(_Frozen):
    """Token counts normalised across providers. `input_tokens` is the input billed at the base rate: neither read
    from nor written to the prompt cache (OpenAI's prompt_tokens minus cached_tokens; Anthropic's input_tokens)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens


class Completion(_Frozen):
    """A provider's answer, reduced to what is cached and reported."""

    provider: ProviderName
    model: str
    text: str | None = None
    tool_calls: list[dict[str, JsonValue]] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    cost_without_prompt_cache_usd: float = 0.0
    provider_request_id: str | None = None
    latency_ms: float | None = None
    is_error: bool = False
    raw_response: dict[str, JsonValue] | None = None  # the provider's response body, for faithful batch output


def utc_now() -> datetime:
    return datetime.now(UTC)


class Alias(_Frozen):
    """Where an alias entry's answer comes from: a guard judgement served `source_id`'s answer to this request.

    An alias is written under the request's own key (exact path only: no vector point) so that the same request is
    an exact hit next time, whatever has been stored near it since. It keeps its source's context (fingerprint,
    namespace, version, tenant, user) and age (`created_at`), so invalidation and every purge selection remove
    it with its source, and it expires no later than its source."""

    source_id: str
    outcome: Literal["semantic"] = "semantic"
    similarity: float
    aliased_at: datetime


class CacheEntry(_Frozen):
    """One cached answer: the Redis body. Serialised as JSON, never pickled. `alias`: set on an alias entry (the
    answer of another entry, served to this request by a guard judgement); its `prompt_text` is the source's."""

    entry_id: str
    request_key: str
    context_fp: str
    namespace: str
    version: str
    tenant: str
    user: str | None
    prompt_text: str | None
    completion: Completion
    created_at: datetime
    expires_at: datetime
    alias: Alias | None = None

    @property
    def alias_of(self) -> str | None:
        """The source entry's id when this is an alias entry."""
        return self.alias.source_id if self.alias is not None else None

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires_at


class HitKind(StrEnum):
    EXACT = "exact"
    SEMANTIC = "semantic"
    MISS = "miss"


class ExactHit(_Frozen):
    kind: Literal[HitKind.EXACT] = HitKind.EXACT
    entry: CacheEntry
    similarity: float = 1.0


class SemanticHit(_Frozen):
    kind: Literal[HitKind.SEMANTIC] = HitKind.SEMANTIC
    entry: CacheEntry
    similarity: float


class Miss(_Frozen):
    """No usable entry. Carries what the lookup already computed so `store` need not compute it again."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    kind: Literal[HitKind.MISS] = HitKind.MISS
    reason: str
    request_key: str | None = None
    context_fp: str | None = None
    version: str | None = None
    embedding: Any = Field(default=None, exclude=True, repr=False)  # numpy vector of the last user text
    guard_reasons: tuple[str, ...] = ()  # the false-hit guard refused the nearest live candidate for these


LookupResult = ExactHit | SemanticHit | Miss


class StoreOutcome(_Frozen):
    stored: bool
    reason: str
    entry_id: str | None = None
    ttl_seconds: int | None = None


class PurgeSelector(_Frozen):
    """Exactly one kind of selection (ids, scope, namespace, namespace+version or older_than) is required.

    The one place the rule is checked: the CLI, the maintenance task and `LLMCache.purge` all build this model,
    and an invalid selection is a `ValidationError` whose message starts with the field at fault."""

    ids: list[str] | None = None
    tenant: str | None = None
    user: str | None = None
    namespace: str | None = None
    version: str | None = None
    older_than: datetime | None = None

    SELECTIONS: ClassVar[tuple[str, ...]] = ("ids", "tenant", "namespace", "older_than")

    @model_validator(mode="after")
    def _exactly_one_selection(self) -> PurgeSelector:
        chosen = [name for name in self.SELECTIONS if getattr(self, name) is not None]
        if len(chosen) != 1:
            given = f" (given: {', '.join(chosen)})" if chosen else ""
            raise _selection_error("selector", f"give exactly one of ids, tenant, namespace or older_than{given}")
        if self.version is not None and self.namespace is None:
            raise _selection_error("version", "goes with namespace")
        if self.user is not None and self.tenant is None:
            raise _selection_error("user", "goes with tenant")
        return self


def _selection_error(field: str, problem: str) -> PydanticCustomError:
    return PydanticCustomError("purge_selector", "{field}: {problem}", {"field": field, "problem": problem})


class PurgeResult(_Frozen):
    entries_deleted: int
    points_deleted: int
