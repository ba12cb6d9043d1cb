"""The uncertainty band's judge through the real providers layer (openai SDK) against the provider emulator, which
answers judge prompts from its answer book and says so; verdicts cached per pair in the shared Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from llmcache.shared.guard.judge import EquivalenceJudge, judge_prompt, parse_judge_prompt
from llmcache.shared.guard.pair_model import loaded_pair_model
from llmcache.shared.guard.verifier import FalseHitGuard
from llmcache.shared.policy import VerifierThresholds
from llmcache.shared.providers.factory import build_providers
from llmcache.testing.emulator.config import EmulatorConfig
from llmcache.testing.emulator.server import RunningEmulator
from tests.conftest import emulator_settings

BOOK = {
    "how do i reset my password?": "Open Settings, then Security, then Reset password.",
    "i forgot my password, how do i change it?": "Open Settings, then Security, then Reset password.",
    "how do i delete my account?": "Write to support from the e-mail on the account.",
    "where can i see my invoices?": "Under Billing, then Invoices.",
}


@pytest.fixture
def booked_emulator() -> Iterator[RunningEmulator]:
    with RunningEmulator(EmulatorConfig(answer_book=BOOK)) as running:
        yield running


@pytest.fixture
def judge(booked_emulator: RunningEmulator, redis_url: str, key_prefix: str) -> EquivalenceJudge:
    settings = emulator_settings(booked_emulator, redis_url, key_prefix)
    client = redis.Redis.from_url(redis_url)
    return EquivalenceJudge(build_providers(settings, client)["openai"], "gpt-4o-mini", client, key_prefix)


def test_the_prompt_round_trips() -> None:
    assert parse_judge_prompt(judge_prompt("How  do I\nreset?", "Reset how?")) == ("How do I reset?", "Reset how?")
    assert parse_judge_prompt("How do I reset my password?") is None


def test_the_judge_answers_from_the_book_is_cached_and_costed(judge: EquivalenceJudge) -> None:
    same = judge.same("How do I reset my password?", "I forgot my password, how do I change it?")
    assert same.same and not same.from_cache and same.cost_usd > 0
    assert "emulator" in same.answer  # the emulator says what it is
    different = judge.same("How do I reset my password?", "How do I delete my account?")
    assert not different.same
    again = judge.same("How do I reset my password?", "I forgot my password, how do I change it?")
    assert again.same and again.from_cache and again.cost_usd == 0.0
    stats = judge.stats()
    assert stats["calls"] == 2 and stats["cached"] == 1
    assert stats["cost_usd"] == pytest.approx(same.cost_usd + different.cost_usd)


def test_the_guard_asks_the_judge_only_inside_the_band(judge: EquivalenceJudge) -> None:
    guard = FalseHitGuard(pair_model=loaded_pair_model(), judge=judge)
    everything_uncertain = VerifierThresholds(
        veto_below=0.0, rescue_above=1.0, pair_accept_above=1.0, pair_reject_below=0.0, judge_uncertain=True
    )
    query, cached = "I forgot my password, how do I change it?", "How do I reset my password?"
    assert guard.verify(query, cached, thresholds=everything_uncertain).allowed
    # clean under the rules (few shared words), and another booked answer: the judge says no
    assert guard.verify("Where can I see my invoices?", cached, thresholds=everything_uncertain).reasons == ("judge",)
    refusing = VerifierThresholds(veto_below=0.0, rescue_above=1.0, pair_accept_above=1.0, pair_reject_below=0.0)
    refused = guard.verify(query, cached, thresholds=refusing)  # the default: the band is refused, no call made
    assert not refused.allowed and refused.uncertain
    hard = guard.verify("How do I reset my 2 passwords?", cached, thresholds=everything_uncertain)
    assert "number" in hard.reasons and hard.hard_conflict  # the rules veto first: the judge is never asked
    assert judge.stats()["calls"] == 2
