"""The contract for answering cache misses, in bulk.

A batch run hands an answerer the distinct misses it has left after the cache and the file-wide dedupe (one
`MissRequest` per request key), and takes back exactly one `MissOutcome` per miss: an `Answered` with the
provider's completion (exact usage and cost), or a `Failed` that says whether a later run may retry it.

Outcomes come back in completion order, not input order, as soon as each is known: the sync SDK answerer yields
them seconds apart, a provider Batch API answerer may yield them all hours later. The caller stores the answers and
writes the lines; an answerer never touches the cache. One request's failure is its `Failed` outcome, never an
exception out of `answer`: only a failure of the answerer as a whole (its client could not be built) raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from llmcache.shared.jobs import JobError
from llmcache.shared.models import CacheRequest, Completion
from llmcache.shared.providers.prompt_cache import PromptCacheTTL


class MissRequest(BaseModel):
    """One distinct miss. `key` (the request key) is unique in one `answer` call; outcomes carry it back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    request: CacheRequest
    prompt_cache_ttl: PromptCacheTTL = "5m"


class Answered(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    completion: Completion


class Failed(BaseModel):
    """`error.retryable`: a later run may succeed (rate limits, 5xx, 529, timeouts, malformed bodies once the
    retries ran out); False for what would fail again (400, unknown model, ...). `body` is the provider's error
    body when it sent one (an OpenAI batch output puts it under `response.body`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    error: JobError
    body: dict[str, Any] | None = None


MissOutcome = Answered | Failed


@runtime_checkable
class MissAnswerer(Protocol):
    @property
    def name(self) -> str:
        """Shown in logs and benchmark output: "sync-sdk", "openai-batch-api", ..."""
        ...

    def answer(self, misses: Sequence[MissRequest]) -> Iterator[MissOutcome]:
        """Yield exactly one outcome per miss, in completion order. Never raises for one request's failure."""
        ...


def outcomes_by_key(outcomes: Iterable[MissOutcome]) -> dict[str, MissOutcome]:
    """Collect an answerer's outcomes (for callers that need them all before going on)."""
    return {outcome.key: outcome for outcome in outcomes}
