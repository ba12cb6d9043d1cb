"""Strong rewordings for the pair model's training data: the same question in another sentence shape (label 1), and
hard negatives of the very same shape where one specific changed (label 0).

The templated pairs of `synthetic_pairs` reword a question within one frame ("How do I X?" / "How can I X?"). Real
traffic rewords harder: clauses reordered ("On the mobile app, how do I turn off webhooks?"), a question turned
into a statement with a "why" or "how" ("Turning off webhooks on the mobile app doesn't work. Why?"), "I can't
figure out how to X" for "How do I X?", the passive ("Can webhooks be turned off on the mobile app?"), a gerund
subject, politeness frames, "is it possible to". A model that only sees weak rewordings as positives learns that
a strong one is another question, and loses the FAQ's true paraphrases as it trains longer.

Compositional, not a list: an *intent* is a domain-free meaning over slot types (how to, possible, broken, cost,
included, when, how often, mismatch), each written by several *renderers* of different sentence shapes; the verb of
an action is conjugated (`-ing`, past participle) by rule, so any vocabulary of `synthetic_vocabulary` fills it.
A pair is two different renderers of one intent over a domain's values:

- the same values, synonyms allowed -> 1 (`reworded`);
- the same two renderers, one slot refilled with another value (action, object, context, plan, number, time) -> 0;
- a negated renderer of the intent -> 0 (`negation`); a follow-up that leans on the question -> 0 (`followup`).

Seeded: the same seed gives the same pairs. Training draws from `TRAINING_DOMAINS` only; no renderer repeats a
wording of the tuning or held-out frames (`synthetic_splits`), and none was written from the tuning files.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from llmcache.quality.synthetic_pairs import SyntheticPair
from llmcache.quality.synthetic_vocabulary import TRAINING_DOMAINS, Domain, SlotType, Value

__all__ = ["INTENTS", "Draft", "Intent", "draft", "gerund", "participle", "rewordings"]

# --- verb forms, by rule, for any action in any vocabulary ("turn off" -> "turning off", "turned off") -------------

_IRREGULAR_PARTICIPLES = {
    "set": "set", "send": "sent", "get": "got", "make": "made", "put": "put", "keep": "kept", "run": "run",
    "do": "done", "leave": "left", "sell": "sold", "hide": "hidden", "pay": "paid", "find": "found", "give": "given",
    "split": "split", "cut": "cut", "take": "taken", "write": "written", "buy": "bought", "build": "built",
    "choose": "chosen", "bring": "brought", "hold": "held", "shut": "shut", "resell": "resold", "upload": "uploaded",
    "free": "freed", "see": "seen", "go": "gone", "read": "read", "lose": "lost",
}  # fmt: skip
_DOUBLED = {"debug", "transfer", "cancel", "label", "refer", "control", "patrol", "compel", "travel", "total"}
_VOWELS = set("aeiou")


def _doubles(verb: str) -> bool:
    if verb in _DOUBLED:
        return True
    return (
        len(verb) <= 4
        and len(verb) >= 3
        and verb[-1] not in _VOWELS | set("wxy")
        and verb[-2] in _VOWELS
        and verb[-3] not in _VOWELS
    )


def _split_verb(action: str) -> tuple[str, str]:
    verb, _, rest = action.partition(" ")
    return verb, (" " + rest if rest else "")


def gerund(action: str) -> str:
    """Gerund by rule: "turn off" -> "turning off", "remove" -> "removing", "free up" -> "freeing up"."""
    verb, rest = _split_verb(action)
    stem = verb.rsplit("-", 1)[-1]
    head = verb[: len(verb) - len(stem)]
    if stem.endswith("ee") or stem.endswith("ye"):
        form = stem + "ing"
    elif stem.endswith("ie"):
        form = stem[:-2] + "ying"
    elif stem.endswith("e") and len(stem) > 2:
        form = stem[:-1] + "ing"
    elif _doubles(stem):
        form = stem + stem[-1] + "ing"
    else:
        form = stem + "ing"
    return head + form + rest


def participle(action: str) -> str:
    """Past participle by rule: "turn off" -> "turned off", "send" -> "sent", "modify" -> "modified"."""
    verb, rest = _split_verb(action)
    stem = verb.rsplit("-", 1)[-1]
    head = verb[: len(verb) - len(stem)]
    if stem in _IRREGULAR_PARTICIPLES:
        form = _IRREGULAR_PARTICIPLES[stem]
    elif stem.endswith("e"):
        form = stem + "d"
    elif stem.endswith("y") and len(stem) > 1 and stem[-2] not in _VOWELS:
        form = stem[:-1] + "ied"
    elif _doubles(stem):
        form = stem + stem[-1] + "ed"
    else:
        form = stem + "ed"
    return head + form + rest


_PARTICLES = {"off", "on", "up", "down", "back", "out", "away", "in", "over"}


def _passive_ok(action: str) -> bool:
    """The passive reads well for a verb alone or a verb and a particle ("turn off"), not "download a copy of"."""
    words = action.split()
    return len(words) == 1 or (len(words) == 2 and words[1] in _PARTICLES)


# --- intents and their renderers ------------------------------------------------------------------------------------

Words = dict[SlotType, str]  # slot -> the wording chosen for it ("context2": a second context, for `mismatch`)
Renderer = Callable[[Words], str | None]  # None: this renderer cannot say it (e.g. no passive of that action)


def _cap(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


def _passive(template: str) -> Renderer:
    def render(w: Words) -> str | None:
        if not _passive_ok(w["action"]):
            return None
        return _cap(template.format(pp=participle(w["action"]), **w))

    return render


def _t(template: str) -> Renderer:
    """A plain template; `{ing}` is the action's gerund, `{Ing}` capitalised, `{Context}` / `{Time}` capitalised."""

    def render(w: Words) -> str | None:
        fields = dict(w)
        if "action" in w:
            fields["ing"] = gerund(w["action"])
            fields["Ing"] = _cap(fields["ing"])
        for slot in ("context", "time", "plan"):
            if slot in w:
                fields[slot.capitalize()] = _cap(w[slot])
        return _cap(template.format(**fields))

    return render


@dataclass(frozen=True)
class Intent:
    """One meaning over slot types, in renderers of different sentence shapes; `negated` renderers ask the
    opposite; `followups` lean on the question (`{other}` is another value of one of `followup_slots`)."""

    name: str
    slots: tuple[SlotType, ...]
    renderers: tuple[Renderer, ...]
    negated: tuple[Renderer, ...] = ()
    followups: tuple[str, ...] = ()
    followup_slots: tuple[SlotType, ...] = ()


INTENTS: tuple[Intent, ...] = (
    Intent(
        "how_to",
        ("action", "object", "context"),
        (
            _t("How do I {action} {object} {context}?"),
            _t("{Context}, how do I {action} {object}?"),
            _t("What's the procedure for {ing} {object} {context}?"),
            _t("I can't figure out how to {action} {object} {context}."),
            _t("I'm trying to {action} {object} {context} but can't work out how."),
            _passive("How can {object} be {pp} {context}?"),
            _t("{Ing} {object} {context}: how does that work?"),
            _t("Could you tell me how to {action} {object} {context}?"),
            _t("I'd like to {action} {object} {context}. How do I do that?"),
            _t("What should I do to {action} {object} {context}?"),
            _t("{Context}, what's the way of {ing} {object}?"),
            _t("Not sure how to {action} {object} {context} - any guidance?"),
        ),
        followups=("What about {other}?", "Same thing {other}?", "Does that work {other} too?"),
        followup_slots=("context",),
    ),
    Intent(
        "possible",
        ("action", "object", "context"),
        (
            _t("Is it possible to {action} {object} {context}?"),
            _t("{Context}, can I {action} {object}?"),
            _passive("Can {object} be {pp} {context}?"),
            _t("Is there any way of {ing} {object} {context}?"),
            _t("I'd like to know whether I can {action} {object} {context}."),
            _t("Would it be possible for me to {action} {object} {context}?"),
            _t("{Ing} {object} {context}: is that possible?"),
            _t("{Context}, is {ing} {object} something I can do?"),
        ),
        negated=(
            _t("Why can't I {action} {object} {context}?"),
            _t("{Context}, why am I not able to {action} {object}?"),
            _t("Why is it not possible to {action} {object} {context}?"),
            _t("{Ing} {object} {context} isn't possible for me. Why?"),
        ),
        followups=("How about {other}?", "And {other}?", "Is that also possible {other}?"),
        followup_slots=("context",),
    ),
    Intent(
        "broken",
        ("action", "object", "context"),
        (
            _t("Why does {ing} {object} fail {context}?"),
            _t("{Ing} {object} {context} doesn't work. Why?"),
            _t("{Context}, {ing} {object} keeps failing. What's wrong?"),
            _t("What's going wrong when I {action} {object} {context}?"),
            _t("Whenever I try to {action} {object} {context}, it fails. Why is that?"),
            _t("My attempts to {action} {object} {context} keep failing - why?"),
            _t("{Ing} {object} is broken {context}. What's causing it?"),
            _t("{Context}, I can't get {ing} {object} to work. Why not?"),
        ),
        followups=("Does it also fail {other}?", "What about {other}?", "And {other}, same problem?"),
        followup_slots=("context",),
    ),
    Intent(
        "mismatch",
        ("object", "context", "context2"),
        (
            _t("Why is {object} different {context} than {context2}?"),
            _t("{object} {context} and {context2} don't match. Why?"),
            _t("Why don't {object} {context} and {object} {context2} match?"),
            _t("{Context}, {object} looks different from {context2}. Why is that?"),
            _t("What explains the difference in {object} between {context} and {context2}?"),
            _t("I see one thing for {object} {context} and another {context2}. Why the difference?"),
        ),
        followups=("And {other}?", "Is it also different {other}?"),
        followup_slots=("context",),
    ),
    Intent(
        "cost",
        ("action", "object", "plan"),
        (
            _t("How much does it cost to {action} {object} on the {plan}?"),
            _t("On the {plan}, what does {ing} {object} cost?"),
            _t("What's the charge for {ing} {object} on the {plan}?"),
            _t("I'm on the {plan}. How much do I pay to {action} {object}?"),
            _t("{Ing} {object} on the {plan}: what's the price?"),
            _t("What would I be billed for {ing} {object} on the {plan}?"),
        ),
        followups=("And on the {other}?", "What about the {other}?", "Is it the same price on the {other}?"),
        followup_slots=("plan",),
    ),
    Intent(
        "included",
        ("action", "object", "plan"),
        (
            _t("Does the {plan} include {ing} {object}?"),
            _t("On the {plan}, am I able to {action} {object}?"),
            _t("Is {ing} {object} part of the {plan}?"),
            _t("I have the {plan}. Can I {action} {object} with it?"),
            _t("{Ing} {object}: is that covered by the {plan}?"),
        ),
        negated=(
            _t("Why does the {plan} not include {ing} {object}?"),
            _t("Why is {ing} {object} not part of the {plan}?"),
            _t("I have the {plan} and can't {action} {object}. Why?"),
        ),
        followups=("And the {other}?", "Does the {other} include it too?"),
        followup_slots=("plan",),
    ),
    Intent(
        "when",
        ("action", "object", "time"),
        (
            _t("Can I {action} {object} {time}?"),
            _t("{Time}, can I {action} {object}?"),
            _t("Is {ing} {object} possible {time}?"),
            _t("Would {ing} {object} {time} work?"),
            _passive("Can {object} be {pp} {time}?"),
            _t("I want to {action} {object} {time}. Is that OK?"),
        ),
        negated=(
            _t("Why can't I {action} {object} {time}?"),
            _t("{Time}, why is {ing} {object} not possible?"),
        ),
        followups=("And {other}?", "What about {other}?", "Is {other} fine too?"),
        followup_slots=("time",),
    ),
    Intent(
        "times_a_day",
        ("action", "object", "number"),
        (
            _t("Can I {action} {object} {number} times a day?"),
            _t("Is {ing} {object} {number} times a day allowed?"),
            _t("{number} times a day: can I {action} {object} that often?"),
            _t("Would I be able to {action} {object} as many as {number} times per day?"),
            _t("I need to {action} {object} {number} times a day. Is that OK?"),
        ),
        followups=("What about {other} times?", "And {other} times a day?"),
        followup_slots=("number",),
    ),
)

# politeness and discourse frames around a whole question: the question does not change
_OPENERS = (
    "", "", "", "", "Question: ", "I have a question. ", "Could you help? ", "Please advise: ", "Hoping you can help. ",
    "Quick one: ",
)  # fmt: skip
_CLOSERS = ("", "", "", "", " Any help appreciated.", " Cheers.", " Thank you.", " Many thanks!")


def _frame(text: str, rng: random.Random) -> str:
    opener = rng.choice(_OPENERS)
    if opener and not text.startswith(("I ", "I'")):
        text = text[0].lower() + text[1:]
    text = opener + text + rng.choice(_CLOSERS)
    roll = rng.random()
    if roll < 0.12:
        text = text.lower()
    elif roll < 0.2:
        text = text.rstrip("?.!")
    return text


# --- drawing pairs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A pair before its surface frames: which values each side holds (slot -> index into the domain's values),
    so that a test can check that a positive keeps every specific and a negative changes exactly one."""

    intent: str
    domain: str
    values_a: dict[SlotType, int]
    values_b: dict[SlotType, int]
    words_a: Words
    words_b: Words
    a: str
    b: str
    label: int
    kind: str


_KIND_OF_SLOT = {"context": "scope", "context2": "scope", "plan": "entity", "number": "number", "time": "time"}


def _values(domain: Domain, slot: SlotType) -> tuple[Value, ...]:
    return domain.slots["context" if slot == "context2" else slot]


def _pick(domain: Domain, slots: Sequence[SlotType], rng: random.Random) -> dict[SlotType, int] | None:
    picked: dict[SlotType, int] = {}
    for slot in slots:
        choices = [i for i in range(len(_values(domain, slot))) if slot != "context2" or i != picked.get("context")]
        if not choices:
            return None
        picked[slot] = rng.choice(choices)
    return picked


def _words(domain: Domain, values: dict[SlotType, int], rng: random.Random) -> Words:
    return {slot: rng.choice(_values(domain, slot)[index].wordings) for slot, index in values.items()}


def _render(renderers: Sequence[Renderer], words: Words, rng: random.Random) -> tuple[int, str] | None:
    order = list(range(len(renderers)))
    rng.shuffle(order)
    for index in order:
        text = renderers[index](words)
        if text is not None:
            return index, text
    return None


def draft(rng: random.Random, domain: Domain, intent: Intent) -> Draft | None:  # noqa: PLR0912 (one draw per branch)
    """One pair of `intent` over `domain`, or None where the domain lacks a slot or a renderer cannot say it."""
    if any(("context" if s == "context2" else s) not in domain.slots for s in intent.slots):
        return None
    values = _pick(domain, intent.slots, rng)
    if values is None:
        return None
    words = _words(domain, values, rng)
    first = _render(intent.renderers, words, rng)
    if first is None:
        return None
    index_a, a = first
    others = [r for i, r in enumerate(intent.renderers) if i != index_a]
    roll = rng.random()
    base = {"intent": intent.name, "domain": domain.name, "values_a": values, "words_a": words, "a": a}
    if roll < 0.5:  # the same question, reworded: another renderer, synonyms allowed
        words_b = _words(domain, values, rng)
        if intent.name == "mismatch" and rng.random() < 0.3:  # "A and B differ" == "B and A differ"
            words_b = words_b | {"context": words_b["context2"], "context2": words_b["context"]}
        second = _render(others, words_b, rng)
        if second is None:
            return None
        return Draft(**base, values_b=values, words_b=words_b, b=second[1], label=1, kind="reworded")  # type: ignore[arg-type]
    if roll < 0.85:  # the same two renderers, one specific changed
        slot = rng.choice(intent.slots)
        choices = [
            i
            for i in range(len(_values(domain, slot)))
            if i != values[slot]
            and not (slot.startswith("context") and i in {values.get("context"), values.get("context2")})
        ]
        if not choices:
            return None
        values_b = values | {slot: rng.choice(choices)}
        words_b = _words(domain, values_b, rng)
        second = _render(others, words_b, rng)
        if second is None:
            return None
        kind = _KIND_OF_SLOT.get(slot, slot)
        return Draft(**base, values_b=values_b, words_b=words_b, b=second[1], label=0, kind=kind)  # type: ignore[arg-type]
    if roll < 0.93 and intent.negated:  # the opposite question, reworded
        second = _render(intent.negated, _words(domain, values, rng), rng)
        if second is None:
            return None
        return Draft(**base, values_b=values, words_b=words, b=second[1], label=0, kind="negation")  # type: ignore[arg-type]
    if intent.followups:  # a follow-up asked without its conversation
        slot = rng.choice(intent.followup_slots)
        choices = [i for i in range(len(_values(domain, slot))) if i != values[slot]]
        if not choices:
            return None
        other = rng.choice(_values(domain, slot)[rng.choice(choices)].wordings)
        b = _cap(rng.choice(intent.followups).format(other=other))
        return Draft(**base, values_b=values, words_b=words, b=b, label=0, kind="followup")  # type: ignore[arg-type]
    return None


def _drafts(rng: random.Random, domains: Sequence[Domain], intents: Sequence[Intent]) -> Iterator[Draft]:
    while True:
        made = draft(rng, rng.choice(domains), rng.choice(intents))
        if made is not None and made.a.lower().strip("?.! ") != made.b.lower().strip("?.! "):
            yield made


def rewordings(
    count: int,
    *,
    seed: int,
    domains: Sequence[Domain] = TRAINING_DOMAINS,
    intents: Sequence[Intent] = INTENTS,
) -> list[SyntheticPair]:
    """`count` pairs, about half label 1 (strong rewordings), the rest hard negatives of the same shapes;
    deterministic for a seed."""
    rng = random.Random(seed)
    pairs: list[SyntheticPair] = []
    for made in _drafts(rng, domains, intents):
        if len(pairs) == count:
            break
        a, b = _frame(made.a, rng), (_frame(made.b, rng) if made.kind != "followup" else made.b)
        pairs.append(SyntheticPair(a=a, b=b, label=made.label, kind=made.kind, domain=made.domain, frame=made.intent))
    return pairs
