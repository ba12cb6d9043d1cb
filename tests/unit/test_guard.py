"""The false-hit guard's specifics check, on pairs written for this test (not from the dev files)."""

from __future__ import annotations

import pytest

from llmcache.shared.guard.specifics import extract
from llmcache.shared.guard.verifier import SpecificsGuard

GUARD = SpecificsGuard()


@pytest.mark.parametrize(
    ("query", "cached", "reason"),
    [
        ("Can I export reports without an admin role?", "Can I export reports with an admin role?", "negation"),
        ("How do I return 3 items?", "How do I return 2 items?", "number"),
        ("Is the Platinum tier covered?", "Is the Bronze tier covered?", "entity"),
        ("How do I import contacts?", "How do I export contacts?", "contrast"),
        ("Is the fee charged weekly?", "Is the fee charged monthly?", "contrast"),
        ("Can I get a credit instead of a voucher?", "Can I get a voucher instead of a credit?", "reordered"),
        ("Why was my parcel declined at customs?", "Why was my parcel accepted at customs?", "changed-specific"),
        ("How do I share a folder with my entire team?", "How do I share a folder?", "scope"),
        ("What if I miss the payment date?", "When is the payment date?", "follow-up"),
        ("Is this device insured?", "Is this device uninsured?", "polarity"),
        ("Can I pay the invoice tomorrow?", "How do I pay an invoice?", "time"),
        ("What did I spend on fuel last month?", "What did I spend on fuel?", "time"),
        ("Is the pool open tonight?", "Is the pool open next weekend?", "time"),  # two different anchors
        ("How do I turn the volume up?", "How do I turn the volume down?", "contrast"),
        ("How do I book a table for Friday?", "How do I cancel a table for Friday?", "contrast"),
        # the same frame around one slot filled differently: soft, the verifier may still rescue it
        (
            "How long is the warranty on the dishwasher?",
            "How long is the warranty on the washing machine?",
            "swapped-span",
        ),
        # a named day is a weekday or a weekend day
        ("Is the help desk open on weekend mornings?", "Is the help desk open on Tuesdays?", "contrast"),
        # possessives: "this week's" is the week
        (
            "How do I compare this week's sales to last year?",
            "How do I compare this week's sales to last week's?",
            "contrast",
        ),
    ],
)
def test_changed_specifics_are_refused(query: str, cached: str, reason: str) -> None:
    verdict = GUARD.verify(query, cached)
    assert not verdict.allowed
    assert any(r.startswith(reason) for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("I forgot my password, how can I change it?", "How do I reset my password?"),
        ("How can I cancel the subscription?", "How do I cancel my subscription?"),
        ("Why can't I log in?", "Why am I unable to log in?"),
        ("Why doesn't my card work?", "Why is my card not working?"),  # one negation, worded two ways
        ("Why isn't my invoice showing the discount?", "Why is my invoice not showing the discount?"),
        # "per day" is "daily", "2FA" counts two factors, "a family doctor" is not the whole family
        ("How much can I pay by card per day?", "What's the daily limit for card payments?"),
        ("How do I turn on 2FA?", "How do I enable two-factor authentication?"),
        ("How do I register with a family doctor?", "How do I sign up with a GP?"),
        ("How do I invite a colleague to my team?", "How can I add a team member?"),
        # "before", "earlier" relating two events, not naming a time: a rewording adds them freely
        ("How many requests can I send before I get rate limited?", "What is the API rate limit?"),
        ("Can I get back the files I deleted earlier today?", "How do I recover deleted files from today?"),
    ],
)
def test_rewordings_pass(query: str, cached: str) -> None:
    verdict = GUARD.verify(query, cached)
    assert verdict.allowed, verdict.reasons


@pytest.mark.parametrize(
    ("query", "cached", "same"),
    [
        ("How do I set up webhooks via the API?", "How do I set up webhooks on the mobile app?", False),
        ("How do I set up task dependencies?", "Hi, how do I set up automations? Thanks!", False),
        ("How do I pay for parking at the airport?", "How do I book a taxi at the airport?", False),
        ("What are the steps to end my subscription?", "How do I cancel my subscription?", True),
        ("Where can I get copies of my past invoices?", "Where do I download old invoices?", True),
    ],
)
def test_one_slot_refilled_is_a_soft_conflict_whatever_the_words(query: str, cached: str, same: bool) -> None:
    """One place differs, one or two content words each side: a refilled slot or a synonym, which the rules
    cannot tell apart (`same`: the pair is a rewording). Soft: the pair model may overrule it."""
    verdict = GUARD.verify(query, cached)
    assert verdict.reasons == ("swapped-slot",) and not verdict.hard_conflict


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Quick question: how do I cancel my subscription? Thanks in advance.", "How can I cancel my subscription?"),
        ("How do I learn to cook rice on a stove?", "What is the way to cook rice on a stove?"),
        ("How do I move contacts to a new phone?", "How can I transfer my contacts and photos to a new phone?"),
    ],
)
def test_fillers_and_several_changes_are_not_a_swapped_slot(query: str, cached: str) -> None:
    assert "swapped-slot" not in GUARD.verify(query, cached).reasons


def test_contractions_and_stems_normalise() -> None:
    assert "not" not in extract("Why can't I pay?").content  # negation is tracked apart from content words
    assert extract("Why can't I pay?").negated
    assert extract("claims assessed").content == extract("claim assessment").content == {"claim", "assess"}
