"""Synthetic labelled pairs for the pair model: templated questions where one slot changes (label 0) or only the
wording changes (label 1), follow-ups against their main question (label 0), and specific swaps (negation, number,
time: label 0).

Compositional, not a list: a *frame* is a domain-free question shape over slot types (`How do I {action} {object}
{context}?`), written in several wordings of the same intent; a *domain* is only vocabularies for the slot types,
each value with its own synonyms. A pair is (frame wording x slot values x paraphrase operators), drawn from a
seeded generator. Any new domain is a new vocabulary, any new question shape a new frame, so the held-out split
(`HELD_OUT_DOMAINS`, `HELD_OUT_FRAMES`) is made of domains *and* frames the training split never sees.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from pydantic import BaseModel, ConfigDict

from llmcache.quality.synthetic_splits import (
    FRESH_DOMAINS,
    FRESH_FRAMES,
    HELD_OUT_DOMAINS,
    HELD_OUT_FRAMES,
    TUNING_DOMAINS,
    TUNING_FRAMES,
)
from llmcache.quality.synthetic_vocabulary import (
    DOMAINS,
    FRAMES,
    MORE_DOMAINS,
    TRAINING_DOMAINS,
    Domain,
    Frame,
    SlotType,
    Value,
)

__all__ = [
    "DOMAINS",
    "FRAMES",
    "FRESH_DOMAINS",
    "FRESH_FRAMES",
    "HELD_OUT_DOMAINS",
    "HELD_OUT_FRAMES",
    "MORE_DOMAINS",
    "TRAINING_DOMAINS",
    "TUNING_DOMAINS",
    "TUNING_FRAMES",
    "Domain",
    "Frame",
    "SlotType",
    "SyntheticPair",
    "Value",
    "fresh",
    "generate",
    "held_out",
    "tuning",
]


class SyntheticPair(BaseModel):
    model_config = ConfigDict(frozen=True)

    a: str
    b: str
    label: int
    kind: str
    domain: str
    frame: str


_PREFIXES = ("", "", "", "Hi, ", "Quick question: ", "Hello! ", "Hey, ", "Sorry if this is obvious, but ")
_SUFFIXES = ("", "", "", " Thanks!", " Thanks in advance.", " Please help.")


def _surface(text: str, rng: random.Random) -> str:
    prefix = rng.choice(_PREFIXES)
    if prefix and text[:2] != "I " and not text.startswith("I'"):
        text = text[0].lower() + text[1:]
    text = prefix + text + rng.choice(_SUFFIXES)
    roll = rng.random()
    if roll < 0.15:
        text = text.lower()
    elif roll < 0.25:
        text = text.rstrip("?.!")
    return text


def _slots_of(wording: str) -> list[str]:
    return [part.split("}")[0] for part in wording.split("{")[1:]]


def _fill(wording: str, chosen: dict[str, tuple[Value, str]]) -> str:
    text = wording.format(**{slot: word for slot, (_, word) in chosen.items()})
    return text[0].upper() + text[1:]


def _other_value(values: Sequence[Value], current: Value, rng: random.Random) -> Value:
    return rng.choice([v for v in values if v is not current])


def generate(
    count: int,
    *,
    seed: int,
    domains: Sequence[Domain] = DOMAINS,
    frames: Sequence[Frame] = FRAMES,
) -> list[SyntheticPair]:
    """`count` pairs, about 40% label 1, deterministic for a seed."""
    rng = random.Random(seed)
    return [pair for _, pair in zip(range(count), _stream(rng, domains, frames), strict=False)]


def held_out(count: int, *, seed: int) -> list[SyntheticPair]:
    """Pairs over held-out domains and frames only: neither vocabulary nor question shape seen in training."""
    return generate(count, seed=seed, domains=HELD_OUT_DOMAINS, frames=HELD_OUT_FRAMES)


def tuning(count: int, *, seed: int) -> list[SyntheticPair]:
    """Pairs over the tuning split: what thresholds are chosen on, seen by neither training nor a held-out split."""
    return generate(count, seed=seed, domains=TUNING_DOMAINS, frames=TUNING_FRAMES)


def fresh(count: int, *, seed: int) -> list[SyntheticPair]:
    """Pairs over the second held-out split: reported, never trained or tuned on."""
    return generate(count, seed=seed, domains=FRESH_DOMAINS, frames=FRESH_FRAMES)


def _stream(rng: random.Random, domains: Sequence[Domain], frames: Sequence[Frame]) -> Iterator[SyntheticPair]:
    while True:
        domain, frame = rng.choice(domains), rng.choice(frames)
        wording = rng.choice(frame.wordings)
        slots = _slots_of(wording)
        if any(slot not in domain.slots for slot in slots):
            continue
        picked = {slot: rng.choice(domain.slots[slot]) for slot in slots}
        chosen = {slot: (value, rng.choice(value.wordings)) for slot, value in picked.items()}
        a = _surface(_fill(wording, chosen), rng)
        roll = rng.random()
        if roll < 0.4:  # paraphrase: another wording of the frame and/or other synonyms, same values
            other_wording = rng.choice(frame.wordings)
            rewritten = {slot: (value, rng.choice(value.wordings)) for slot, value in picked.items()}
            b = _surface(_fill(other_wording, rewritten), rng)
            if b.lower().strip("?.! ") == a.lower().strip("?.! "):
                continue
            yield SyntheticPair(a=a, b=b, label=1, kind="paraphrase", domain=domain.name, frame=frame.name)
        elif roll < 0.75:  # one slot refilled, the wording maybe changed too
            slot = rng.choice(slots)
            new_value = _other_value(domain.slots[slot], picked[slot], rng)
            swapped = dict(chosen) | {slot: (new_value, rng.choice(new_value.wordings))}
            other_wording = wording if rng.random() < 0.6 else rng.choice(frame.wordings)
            b = _surface(_fill(other_wording, swapped), rng)
            kind = {"number": "number", "time": "time", "context": "scope", "plan": "entity"}.get(slot, slot)
            yield SyntheticPair(a=a, b=b, label=0, kind=kind, domain=domain.name, frame=frame.name)
        elif roll < 0.88 and frame.followups:  # a follow-up asked without its conversation
            followup = rng.choice(frame.followups)
            # a follow-up refills a qualifier (where, which plan, when, how many), or the object
            qualifiers = [s for s in slots if s != "action"] or slots
            slot = rng.choice(qualifiers)
            new_value = _other_value(domain.slots[slot], picked[slot], rng)
            b = _surface(followup.format(other=rng.choice(new_value.wordings)), rng)
            yield SyntheticPair(a=a, b=b, label=0, kind="followup", domain=domain.name, frame=frame.name)
        elif frame.negated:  # the opposite question in the same words
            b = _surface(_fill(rng.choice(frame.negated), chosen), rng)
            yield SyntheticPair(a=a, b=b, label=0, kind="negation", domain=domain.name, frame=frame.name)
