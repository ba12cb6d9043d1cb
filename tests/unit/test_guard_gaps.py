"""Two gaps found reading the guard: text the English rules cannot read, and vectors of two embedders."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from llmcache.shared.guard.verifier import SpecificsGuard
from llmcache.shared.models import CacheRequest, Message
from llmcache.shared.request_keys import compute_keys, embedder_identity

GUARD = SpecificsGuard()


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("如何重置我的密码\uff1f", "我的订单什么时候发货\uff1f"),  # unrelated, no ASCII word at all
        ("パスワードを忘れました", "注文をキャンセルしたい"),
        ("Comment réinitialiser mon mot de passe ?", "Où est ma commande ?"),
        ("Как сбросить пароль?", "Где мой заказ?"),
        ("How do I reset my password?", "如何重置我的密码\uff1f"),  # another language: another answer
    ],
)
def test_unrelated_non_english_questions_conflict(query: str, cached: str) -> None:
    verdict = GUARD.verify(query, cached)
    assert not verdict.allowed and "foreign-text" in verdict.reasons and verdict.hard_conflict


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("如何重置我的密码\uff1f", "如何重置我的密码"),  # punctuation only
        ("Как сбросить пароль?", "Как мне сбросить пароль?"),  # one word added, most shared
    ],
)
def test_near_identical_non_english_questions_pass_the_strict_floor(query: str, cached: str) -> None:
    assert GUARD.verify(query, cached).allowed


def test_numbers_still_count_inside_non_english_text() -> None:
    verdict = GUARD.verify("我要买3张票", "我要买5张票")
    assert not verdict.allowed and "number" in verdict.reasons


def test_english_questions_are_untouched_by_the_non_english_rule() -> None:
    assert GUARD.verify("How do I reset my password?", "How can I reset my password?").allowed
    assert "foreign-text" not in GUARD.verify("café opening hours", "café opening hours").reasons


@dataclass
class FakeSpace:
    """Only what `embedder_identity` reads: the model id, version and dimension."""

    model_name: str
    model_version: str
    dimension: int = 384


def _request(text: str) -> CacheRequest:
    return CacheRequest(provider="openai", model="m", messages=[Message(role="user", content=text)])


def test_the_embedder_is_part_of_the_context_fingerprint_but_not_of_the_request_key() -> None:
    one = embedder_identity(FakeSpace("all-MiniLM-L6-v2", "aaaa"))
    other = embedder_identity(FakeSpace("all-MiniLM-L6-v2", "bbbb"))  # same name and dimension, other weights
    assert one != other and "384" in one
    first = compute_keys(_request("hello"), "1", False, one)
    second = compute_keys(_request("hello"), "1", False, other)
    assert first.context_fp != second.context_fp
    assert first.request_key == second.request_key  # an exact hit does not depend on the embedder
    assert compute_keys(_request("hello"), "1", False, one).context_fp == first.context_fp


def test_an_embedder_without_a_version_is_named_as_such() -> None:
    @dataclass
    class Plain:
        model_name: str = "text-embedding-3-small"
        dimension: int = 1536

    assert embedder_identity(Plain()) == "text-embedding-3-small@unversioned/1536"
