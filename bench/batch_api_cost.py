"""The reference cost workload, six ways: no cache, provider prompt caching only, exact cache, exact + semantic,
everything synchronous, everything through the providers' Batch APIs. Dollars, provider calls and false hits
(an answer served for another intent, checked against the emulator's answer book) for each.

Workload (self-written, deterministic): a FAQ-like stream of 300 intents (15 actions x 20 objects), each asked in
five wordings with exact repeats, popularity Zipf-like; three tenants (two on OpenAI gpt-4.1-mini, one on Anthropic
claude-sonnet-4-5); a ~4,000-token static system prompt. Everything runs against the provider emulator (not a real
provider) through the real SDKs, the real cache (Redis, Qdrant Edge, MiniLM, the false-hit guard) and the
`--via batch-api` planner's own functions; `python bench/batch_api_cost.py [--lines N]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_line, quiet_logging, write_section
from llmcache.shared.answering.base import Answered, MissRequest
from llmcache.shared.config import Settings, load_settings
from llmcache.shared.jobs import Job
from llmcache.shared.models import CacheRequest, Completion, Miss
from llmcache.shared.providers.batch_api.answerer import BatchAPIAnswerer
from llmcache.shared.providers.batch_api.base import PollPolicy, SubmittedJob
from llmcache.shared.providers.batch_api.factory import build_batch_clients
from llmcache.shared.providers.factory import build_providers
from llmcache.shared.providers.tokens import count_tokens
from llmcache.shared.runtime import build_runtime
from llmcache.testing.emulator.answers import normalise_question
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from llmcache.workers.batch_api_tasks import lookup_chunk

ACTIONS = ["reset", "change", "enable", "disable", "export", "delete", "rename", "share", "restore", "verify",
           "update", "download", "transfer", "archive", "lock"]  # fmt: skip
OBJECTS = ["password", "billing email", "invoice address", "API key", "workspace name", "profile photo",
           "two-factor setup", "payment card", "team calendar", "audit log", "webhook secret", "support ticket",
           "project board", "storage bucket", "notification settings", "SSO configuration", "data retention policy",
           "mobile number", "recovery codes", "usage report"]  # fmt: skip
WORDINGS = ["How do I {a} my {o}?", "How can I {a} my {o}?", "What is the way to {a} the {o}?",
            "I need to {a} my {o}. How?", "Steps to {a} the {o}?"]  # fmt: skip
TENANTS = [("acme", "openai", "gpt-4.1-mini"), ("globex", "openai", "gpt-4.1-mini"),
           ("initech", "anthropic", "claude-sonnet-4-5")]  # fmt: skip
SYSTEM = " ".join(
    f"Policy {i}: answer support questions about the Acme Cloud product precisely, cite the plan tier, "
    f"never invent prices or dates, and escalate account-security cases to a human."
    for i in range(114)
)


FALSE_HITS_NOTE = (
    "The false hits are the guard's (the same in the sync and batch rows: the batch planner decides as a lookup\n"
    'does): an action swapped across two wordings of one object ("I need to change my password. How?" served the\n'
    'answer of "How do I disable my password?") passes its rules; docs/quality.md is where the guard is measured.'
)


@dataclass(frozen=True)
class Line:
    intent: int
    request: CacheRequest


def workload(lines: int, seed: int = 7) -> list[Line]:
    rng = np.random.default_rng(seed)
    intents = [(a, o) for a in ACTIONS for o in OBJECTS]
    popularity = 1.0 / np.arange(1, len(intents) + 1) ** 0.8
    popularity /= popularity.sum()
    order = rng.permutation(len(intents))  # which intent is popular is arbitrary
    out = []
    for _ in range(lines):
        intent = int(order[rng.choice(len(intents), p=popularity)])
        action, obj = intents[intent]
        tenant, provider, model = TENANTS[int(rng.integers(len(TENANTS)))]
        text = WORDINGS[int(rng.integers(len(WORDINGS)))].format(a=action, o=obj)
        request = CacheRequest.model_validate(
            {
                "provider": provider,
                "model": model,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": text}],
                "params": {"max_tokens": 200},
                "namespace": "faq",
                "scope": {"tenant": tenant},
            }
        )
        out.append(Line(intent, request))
    return out


def answer_book() -> dict[str, str]:
    book = {}
    for index, (action, obj) in enumerate((a, o) for a in ACTIONS for o in OBJECTS):
        for wording in WORDINGS:
            book[normalise_question(wording.format(a=action, o=obj))] = (
                f"Intent {index}: to {action} your {obj}, open Settings, choose {obj}, then {action}; "
                "the change applies to the whole workspace at once."
            )
    return book


def intent_of(completion: Completion) -> int | None:
    text = completion.text or ""
    return int(text.split(":", 1)[0].removeprefix("Intent ")) if text.startswith("Intent ") else None


@dataclass
class Row:
    name: str
    usd: float
    calls: int
    false_hits: int | None
    note: str


class MemoryLedger:
    def __init__(self) -> None:
        self.jobs: list[tuple[SubmittedJob, bool]] = []

    def pending(self) -> list[SubmittedJob]:
        return [job for job, done in self.jobs if not done]

    def record(self, job: SubmittedJob) -> None:
        self.jobs.append((job, False))

    def collected(self, job: SubmittedJob) -> None:
        self.jobs = [(j, done or j.batch_id == job.batch_id) for j, done in self.jobs]


def settings_for(emulator: RunningEmulator, data_dir: Path) -> Settings:
    return load_settings(
        key_prefix=f"bench-batchapi-{uuid.uuid4().hex[:8]}",
        data_dir=data_dir,
        providers={
            "openai_api_key": "emulator",
            "openai_base_url": emulator.openai_base_url,
            "anthropic_api_key": "emulator",
            "anthropic_base_url": emulator.anthropic_base_url,
        },
    )


def drop_keys(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(match=f"{settings.key_prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def every_line_sync(emulator: RunningEmulator, settings: Settings, lines: list[Line]) -> tuple[Row, Row, Row]:
    """No cache and prompt caching only: every line its own synchronous call (in order, so prompt-cache reads
    happen as they would); exact cache: one call per distinct request key, priced without prompt caching."""
    providers = build_providers(settings, redis.Redis.from_url(settings.redis_url))
    runtime = build_runtime(settings)
    no_cache = prompt_only = exact = 0.0
    seen: set[str] = set()
    try:
        for line in lines:
            done = providers[line.request.provider].complete(line.request, prompt_cache_ttl="1h")
            no_cache += done.cost_without_prompt_cache_usd
            prompt_only += done.cost_usd
            key = runtime.cache.miss_for(line.request).request_key or ""
            if key not in seen:
                seen.add(key)
                exact += done.cost_without_prompt_cache_usd
    finally:
        runtime.close()
    n = len(lines)
    return (
        Row("no cache", no_cache, n, 0, "every line a synchronous call, no prompt caching"),
        Row("provider prompt caching only", prompt_only, n, 0, "every line a call, the system prompt cache-read"),
        Row("exact cache", exact, len(seen), 0, "one call per distinct request, no prompt caching"),
    )  # fmt: skip


def cache_sync(settings: Settings, lines: list[Line]) -> tuple[Row, Row]:
    """The cache in front (exact + semantic with the guard), misses called synchronously in order."""
    providers = build_providers(settings, redis.Redis.from_url(settings.redis_url))
    runtime = build_runtime(settings)
    with_prompt = without_prompt = 0.0
    calls = false_hits = 0
    try:
        for line in lines:
            found = runtime.cache.lookup(line.request)
            if isinstance(found, Miss):
                done = providers[line.request.provider].complete(line.request, prompt_cache_ttl="1h")
                runtime.cache.store(line.request, done, miss=found)
                calls += 1
                with_prompt += done.cost_usd
                without_prompt += done.cost_without_prompt_cache_usd
            elif intent_of(found.entry.completion) != line.intent:
                false_hits += 1
    finally:
        runtime.close()
        drop_keys(settings)
    return (
        Row("exact + semantic", without_prompt, calls, false_hits, "the cache in front, misses without prompt caching"),
        Row("everything, synchronous", with_prompt, calls, false_hits, "cache + provider prompt caching, sync calls"),
    )


def everything_batch(settings: Settings, lines: list[Line]) -> Row:
    """A cold `--via batch-api` run: every line looked up, the distinct misses (file-wide by request key, and
    the guard's equivalents) sent as provider batches, the answers stored, followers served the leader's answer."""
    runtime = build_runtime(settings)
    answerer = BatchAPIAnswerer(
        build_batch_clients(settings), MemoryLedger(), poll=PollPolicy(initial_seconds=0.05, max_seconds=0.5)
    )
    try:
        jobs = [Job(custom_id=f"l{i}", request=line.request) for i, line in enumerate(lines)]
        rows = lookup_chunk(runtime, jobs)
        leaders: dict[str, int] = {}  # request key -> line index of its leader
        follows: dict[int, str] = {}  # line index -> the leader's request key
        for index, row in enumerate(rows):
            key = str(row["request_key"])
            leader_key = row.get("leader_key")
            if leader_key:
                follows[index] = str(leader_key)
            elif key in leaders:
                follows[index] = key
            else:
                leaders[key] = index
        misses = [MissRequest(key=k, request=lines[i].request, prompt_cache_ttl="1h") for k, i in leaders.items()]
        answers: dict[str, Completion] = {}
        for outcome in answerer.answer(misses):
            if isinstance(outcome, Answered):
                answers[outcome.key] = outcome.completion
                runtime.cache.store(lines[leaders[outcome.key]].request, outcome.completion)
        usd = sum(c.cost_usd for c in answers.values())
        false_hits = sum(
            1 for index, key in follows.items() if key in answers and intent_of(answers[key]) != lines[index].intent
        )
    finally:
        runtime.close()
        drop_keys(settings)
    batches = len(answerer.submitted)
    note = f"cache + dedupe, misses in {batches} provider batches at 50%, prompt-cache prices stacking"
    return Row("everything, Batch APIs", usd, len(misses), false_hits, note)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=3000)
    args = parser.parse_args()
    quiet_logging()
    lines = workload(args.lines)
    started = time.perf_counter()
    with RunningEmulator(EmulatorConfig(answer_book=answer_book())) as emulator, tempfile.TemporaryDirectory() as tmp:
        rows = list(every_line_sync(emulator, settings_for(emulator, Path(tmp) / "a"), lines))
        emulator.reset()
        rows += cache_sync(settings_for(emulator, Path(tmp) / "b"), lines)
        emulator.reset()
        rows.append(everything_batch(settings_for(emulator, Path(tmp) / "c"), lines))
        emulator_batch_usd = emulator.stats()["usd_batch"]
    elapsed = time.perf_counter() - started
    base = rows[0].usd
    distinct_intents = len({(line.request.scope.tenant, line.intent) for line in lines})
    table = [
        f"| {r.name} | ${r.usd:.4f} | {1 - r.usd / base:.1%} | {r.calls:,} | "
        f"{'-' if r.false_hits is None else r.false_hits} | {r.note} |"
        for r in rows
    ]
    body = "\n".join(
        [
            "## Cost of the reference workload, six ways (`bench/batch_api_cost.py`)",
            "",
            f"Measured {machine_line()}, against the provider emulator (not a real provider), in {elapsed:.0f} s.",
            f"{len(lines):,} lines: 300 intents in five wordings with exact repeats (Zipf-like popularity), three",
            f"tenants ({distinct_intents} tenant-intent pairs asked), two on OpenAI gpt-4.1-mini and one on Anthropic",
            f"claude-sonnet-4-5, a {count_tokens(SYSTEM):,}-token static system prompt, 200 output tokens at most.",
            "False hits: an answer served for another intent (the emulator's answer book says which is right).",
            f"The Batch API row's dollars are the emulator's own batch accounting too (${emulator_batch_usd:.4f}).",
            "",
            "| scenario | dollars | saved vs no cache | provider calls | false hits | how |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
            *table,
            "",
            "Both providers document that prompt-cache prices apply inside batches (`shared/data/pricing.json`,",
            "`batch`), so the Batch API row pays cache reads at half the cached price. Target: >= 85% saved.",
            FALSE_HITS_NOTE,
        ]
    )
    write_section("batch-api-cost", body)
    print(body)


if __name__ == "__main__":
    main()
