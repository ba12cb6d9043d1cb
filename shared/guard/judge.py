"""The judge for the uncertainty band: a cheap provider model asked a fixed yes/no question, "do these two questions
ask for the same answer?", for a candidate the pair model is unsure about, where a namespace opts in
(`uncertain = "judge"`). Through the providers layer (retries, the shared rate limit, exact cost), its verdict is
cached per (query, candidate) in Redis and its cost added up there.

The prompt carries a marker line, so that the provider emulator can recognise a judge prompt and answer it from
its answer book (same booked answer: yes), saying in its answer that it is the emulator.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import redis
import structlog
from pydantic import BaseModel

from llmcache.shared.models import CacheRequest, Message, ProviderName

if TYPE_CHECKING:  # the providers import the settings, which import the policy, which imports the guard
    from llmcache.shared.providers.base import Provider

log = structlog.get_logger(__name__)

JUDGE_MARKER = "[llmcache equivalence judge v1]"
JUDGE_PROMPT = (
    JUDGE_MARKER + "\n"
    "Two users asked the questions below. Would one correct answer fully and correctly answer both? Different "
    "numbers, dates, products, plans, places, actions or a negation mean different questions; a follow-up that "
    "depends on an earlier conversation is a different question. Reply with exactly one word: yes or no.\n"
    "Question A: {query}\n"
    "Question B: {cached}"
)
_PARSE = re.compile(re.escape(JUDGE_MARKER) + r"\n.*?\nQuestion A: (?P<a>.*)\nQuestion B: (?P<b>.*)\Z", re.DOTALL)


def judge_prompt(query: str, cached: str) -> str:
    return JUDGE_PROMPT.format(query=" ".join(query.split()), cached=" ".join(cached.split()))


def parse_judge_prompt(text: str) -> tuple[str, str] | None:
    """The two questions of a judge prompt, else None (what the emulator reads)."""
    match = _PARSE.match(text.strip())
    return (match["a"], match["b"]) if match else None


class JudgeVerdict(BaseModel):
    same: bool
    answer: str
    cost_usd: float
    from_cache: bool


class EquivalenceJudge:
    """Thread-safe (the provider and the Redis client are)."""

    def __init__(
        self,
        provider: Provider,
        model: str,
        client: redis.Redis,
        key_prefix: str,
        ttl_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self._provider = provider
        self._model = model
        self._redis = client
        self._prefix = f"{key_prefix}:judge"
        self._ttl = ttl_seconds

    @property
    def provider(self) -> ProviderName:
        return self._provider.name

    def _key(self, query: str, cached: str) -> str:
        digest = hashlib.sha256(f"{self._provider.name}\0{self._model}\0{query}\0{cached}".encode()).hexdigest()
        return f"{self._prefix}:verdict:{digest}"

    def same(self, query: str, cached: str) -> JudgeVerdict:
        key = self._key(query, cached)
        known = self._redis.get(key)
        if known is not None:
            self._redis.hincrby(f"{self._prefix}:stats", "cached", 1)
            verdict = JudgeVerdict.model_validate_json(known)
            return verdict.model_copy(update={"from_cache": True, "cost_usd": 0.0})
        request = CacheRequest(
            provider=self._provider.name,
            model=self._model,
            messages=[Message(role="user", content=judge_prompt(query, cached))],
            params={"max_tokens": 16, "temperature": 0},  # one word asked; room for an explanation
        )
        completion = self._provider.complete(request)
        answer = (completion.text or "").strip()
        verdict = JudgeVerdict(
            same=answer.lower().startswith("yes"), answer=answer, cost_usd=completion.cost_usd, from_cache=False
        )
        pipe = self._redis.pipeline()
        pipe.set(key, verdict.model_dump_json(), ex=self._ttl)
        pipe.hincrby(f"{self._prefix}:stats", "calls", 1)
        pipe.hincrbyfloat(f"{self._prefix}:stats", "cost_usd", completion.cost_usd)
        pipe.execute()
        log.debug("guard_judge_called", provider=self._provider.name, model=self._model, same=verdict.same,
                 cost_usd=completion.cost_usd)  # fmt: skip
        return verdict

    def stats(self) -> dict[str, float]:
        """calls, cached (verdicts served from Redis) and cost_usd, summed over every process."""
        raw = self._redis.hgetall(f"{self._prefix}:stats")
        return {k.decode() if isinstance(k, bytes) else str(k): float(v) for k, v in raw.items()}
