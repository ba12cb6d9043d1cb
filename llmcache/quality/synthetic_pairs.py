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
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

SlotType = str  # action | object | context | plan | number | time


@dataclass(frozen=True)
class Value:
    """One value of a slot: its wordings are interchangeable, two values are not."""

    wordings: tuple[str, ...]


def _values(*groups: str) -> tuple[Value, ...]:
    return tuple(Value(tuple(w.strip() for w in group.split("|"))) for group in groups)


@dataclass(frozen=True)
class Domain:
    name: str
    slots: dict[SlotType, tuple[Value, ...]]


@dataclass(frozen=True)
class Frame:
    """One intent over slot types, in wordings that all ask the same thing. `negated` wordings (optional) ask the
    opposite; `followups` lean on the main question (`{other}` is refilled with another value of `swap_slot`)."""

    name: str
    wordings: tuple[str, ...]
    negated: tuple[str, ...] = ()
    followups: tuple[str, ...] = ()


class SyntheticPair(BaseModel):
    model_config = ConfigDict(frozen=True)

    a: str
    b: str
    label: int
    kind: str
    domain: str
    frame: str


FRAMES: tuple[Frame, ...] = (
    Frame(
        "how_to",
        (
            "How do I {action} {object} {context}?",
            "How can I {action} {object} {context}?",
            "What are the steps to {action} {object} {context}?",
            "What's the way to {action} {object} {context}?",
            "Can you explain how to {action} {object} {context}?",
            "I want to {action} {object} {context}, how?",
        ),
        followups=("What about {other}?", "And {other}?", "Does that also work {other}?", "Is it the same {other}?"),
    ),
    Frame(
        "possible",
        (
            "Can I {action} {object} {context}?",
            "Is it possible to {action} {object} {context}?",
            "Am I able to {action} {object} {context}?",
            "Is there a way to {action} {object} {context}?",
        ),
        negated=(
            "Why can't I {action} {object} {context}?",
            "Is it impossible to {action} {object} {context}?",
            "Why am I unable to {action} {object} {context}?",
        ),
        followups=("What if I do it {other}?", "How about {other}?", "Can I do that {other} too?"),
    ),
    Frame(
        "cost",
        (
            "How much does it cost to {action} {object} on the {plan}?",
            "What is the price to {action} {object} on the {plan}?",
            "What do I pay to {action} {object} with the {plan}?",
            "Is there a fee to {action} {object} on the {plan}?",
        ),
        followups=("And on the {other}?", "What about the {other}?", "Is it cheaper on the {other}?"),
    ),
    Frame(
        "limit",
        (
            "Can I {action} {number} {object} at once?",
            "Is it allowed to {action} {number} {object} at the same time?",
            "Am I allowed to {action} {number} {object} in one go?",
        ),
        followups=("What about {other}?", "And if it is {other}?"),
    ),
    Frame(
        "when",
        (
            "Can I {action} {object} {time}?",
            "Is it possible to {action} {object} {time}?",
            "Will I be able to {action} {object} {time}?",
        ),
        followups=("And {other}?", "What about {other}?"),
    ),
    Frame(
        "broken",
        (
            "Why does {action} {object} fail {context}?",
            "{action} {object} keeps failing {context}, why?",
            "What makes {action} {object} fail {context}?",
        ),
        negated=(),
        followups=("Does it fail {other} too?", "What about {other}?", "How do I fix it?"),
    ),
    Frame(
        "where",
        (
            "Where do I go to {action} {object} {context}?",
            "Where can I {action} {object} {context}?",
            "Which screen lets me {action} {object} {context}?",
        ),
        followups=("Where is it {other}?", "And {other}?"),
    ),
    Frame(
        "included",
        (
            "Does the {plan} let me {action} {object}?",
            "Is it included in the {plan} to {action} {object}?",
            "With the {plan}, can I {action} {object}?",
        ),
        negated=(
            "Why doesn't the {plan} let me {action} {object}?",
            "Is it not included in the {plan} to {action} {object}?",
        ),
        followups=("What about the {other}?", "And with the {other}?"),
    ),
)

# question shapes training never sees
HELD_OUT_FRAMES: tuple[Frame, ...] = (
    Frame(
        "need_help",
        (
            "I need help to {action} {object} {context}.",
            "Could someone help me {action} {object} {context}?",
            "Please tell me how I should {action} {object} {context}.",
            "Any tips to {action} {object} {context}?",
        ),
        followups=("Same question but {other}.", "Does this apply {other}?"),
    ),
    Frame(
        "time_needed",
        (
            "How long does it take to {action} {object} {context}?",
            "How much time do I need to {action} {object} {context}?",
            "What's the usual time to {action} {object} {context}?",
        ),
        followups=("And {other}?", "Is it faster {other}?"),
    ),
    Frame(
        "allowed_when",
        (
            "Am I allowed to {action} {object} {time}?",
            "Is {time} a time I can {action} {object}?",
            "Could I {action} {object} {time}?",
        ),
        negated=("Why am I not allowed to {action} {object} {time}?",),
        followups=("Would {other} work as well?",),
    ),
)

CONTEXTS_COMMON = _values(
    "on the mobile app|in the mobile app|from the phone app",
    "on the website|in the web version|from the browser",
    "via the API|through the API|using the API",
    "on the desktop app|in the desktop client",
)
TIMES_COMMON = _values(
    "today|later today", "tomorrow|the next day", "at the weekend|on the weekend|on Saturday or Sunday",
    "next week|during the following week", "at night|overnight", "on a public holiday|during a bank holiday",
)  # fmt: skip
NUMBERS_COMMON = _values("2|two", "3|three", "5|five", "10|ten", "20|twenty", "100|a hundred")

DOMAINS: tuple[Domain, ...] = (
    Domain(
        "project_tool",
        {
            "action": _values(
                "turn off|disable|switch off|deactivate",
                "set up|configure|create",
                "delete|remove",
                "export|download a copy of",
                "share|send",
                "rename|change the name of",
            ),
            "object": _values(
                "webhooks|webhook notifications",
                "task dependencies|dependencies between tasks",
                "automations|automated rules",
                "recurring tasks|repeating tasks",
                "the project board|my board",
                "custom fields|custom properties",
            ),
            "context": CONTEXTS_COMMON,
            "plan": _values(
                "Free plan|free tier",
                "Pro plan|Pro tier",
                "Business plan|Business tier",
                "Enterprise plan|Enterprise tier",
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "banking",
        {
            "action": _values("transfer|send", "freeze|block", "order|request", "cancel|stop", "open|start"),
            "object": _values(
                "my debit card|the debit card",
                "a savings account|a savings pot",
                "a standing order|a recurring payment",
                "an overdraft|an overdraft facility",
                "a credit card|a new credit card",
                "money abroad|funds overseas",
            ),
            "context": _values(
                "in the banking app|on the banking app|in the app",
                "at a branch|in a branch|in person",
                "over the phone|by phone|by calling",
                "online banking|on the online banking site",
            ),
            "plan": _values(
                "Basic account|standard account",
                "Premium account|premium tier",
                "Student account",
                "Joint account|shared account",
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "airline",
        {
            "action": _values(
                "change|modify", "cancel|call off", "upgrade|move up", "add|include", "check in|do check-in for"
            ),
            "object": _values(
                "my flight|my booking",
                "a checked bag|hold luggage",
                "my seat|the seat I chose",
                "a pet|my dog",
                "an infant|a baby",
                "extra legroom|a seat with more legroom",
            ),
            "context": _values(
                "online|on the website",
                "at the airport|at the desk in the airport",
                "in the airline app|on the app",
                "through a travel agent|via my travel agent",
            ),
            "plan": _values(
                "Economy fare|economy ticket",
                "Business fare|business class ticket",
                "Basic fare|light ticket",
                "Flex fare|flexible ticket",
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "devtools",
        {
            "action": _values(
                "deploy|ship",
                "roll back|revert",
                "debug|troubleshoot",
                "cache|store in cache",
                "lint|run the linter on",
                "scale|resize",
            ),
            "object": _values(
                "a Docker image|a container image",
                "the database migrations|the schema migrations",
                "a Python package|a pip package",
                "environment variables|env vars",
                "a cron job|a scheduled job",
                "the staging server|the staging environment",
            ),
            "context": _values(
                "on Kubernetes|in a Kubernetes cluster",
                "with GitHub Actions|in a GitHub Actions workflow",
                "on Windows|on a Windows machine",
                "on macOS|on a Mac",
                "in a monorepo|inside a monorepo",
            ),
            "plan": _values("free tier|free plan", "team plan|team tier", "enterprise plan|enterprise tier"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "fitness_app",
        {
            "action": _values("log|record", "pause|put on hold", "sync|synchronise", "share|post", "delete|erase"),
            "object": _values(
                "a workout|a training session",
                "my membership|my gym membership",
                "my heart rate data|heart rate readings",
                "a meal plan|a diet plan",
                "my step count|my steps",
            ),
            "context": _values(
                "with my smartwatch|from my smartwatch",
                "on the phone app|in the mobile app",
                "with Apple Health|through Apple Health",
                "on the website|in the browser",
            ),
            "plan": _values(
                "Basic membership|basic plan", "Premium membership|premium plan", "Family membership|family plan"
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "telecom",
        {
            "action": _values(
                "activate|turn on", "cancel|end", "transfer|move", "top up|add credit to", "unlock|free up"
            ),
            "object": _values(
                "roaming|international roaming",
                "my SIM card|the SIM",
                "my phone number|my number",
                "a data add-on|an extra data bundle",
                "voicemail|my voicemail box",
            ),
            "context": _values(
                "in a store|in a shop", "online|on the website", "in the app|from the app", "by text message|via SMS"
            ),
            "plan": _values(
                "prepaid plan|pay as you go plan",
                "unlimited plan|unlimited tariff",
                "family plan|family bundle",
                "business plan|business tariff",
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)

# more training vocabularies: verbs, nouns and channels in other fields, so that what the model learns about a
# refilled slot is not tied to six vocabularies
MORE_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "restaurant",
        {
            "action": _values(
                "customise|adjust", "split|divide", "tip on|leave a tip on", "complain about|report a problem with",
                "pre-order|order ahead",
            ),
            "object": _values(
                "the bill|the check", "a takeaway|food to go", "a tasting menu|the chef's menu",
                "a birthday cake|a cake for a birthday", "a vegan dish|a plant-based meal",
            ),
            "context": _values(
                "at the table|from my table", "through the delivery app|with the delivery app",
                "by QR code|by scanning the QR code", "at the bar|by the bar",
            ),
            "plan": _values("lunch menu|lunch deal", "dinner menu|evening menu", "loyalty club|rewards club"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "photo_storage",
        {
            "action": _values(
                "back up|make a backup of", "tag|label", "print|get prints of", "restore|recover", "crop|trim",
            ),
            "object": _values(
                "my photo albums|my albums", "old videos|my home videos", "screenshots|screen captures",
                "a shared gallery|a shared collection", "RAW files|raw images",
            ),
            "context": _values(
                "from my camera|off my camera", "on the desktop uploader|with the desktop uploader",
                "in the web gallery|in the online gallery", "from an SD card|off a memory card",
            ),
            "plan": _values("starter storage|starter tier", "plus storage|plus tier", "unlimited storage"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "parking",
        {
            "action": _values(
                "pay for|settle", "challenge|dispute", "top up|add time to", "register|sign up", "find|locate",
            ),
            "object": _values(
                "a parking ticket|a parking fine", "a resident permit|my residents' permit",
                "a parking session|my parking time", "a charging bay|an EV charging spot",
                "a disabled badge|a blue badge",
            ),
            "context": _values(
                "at the pay machine|at the ticket machine", "with the parking app|in the parking app",
                "at the council office|at the town hall", "by text|with a text message",
            ),
            "plan": _values("hourly parking|pay by the hour", "season ticket|season pass", "visitor permit"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "messaging",
        {
            "action": _values(
                "pin|keep at the top", "forward|pass on", "archive|hide away", "translate|auto-translate",
                "report|flag",
            ),
            "object": _values(
                "a group chat|a group conversation", "voice notes|voice messages", "a contact|someone in my contacts",
                "disappearing messages|self-deleting messages", "stickers|sticker packs",
            ),
            "context": _values(
                "on the desktop version|in the desktop version", "on my watch|from my smartwatch",
                "in a channel|inside a channel", "on the web app|in the web client",
            ),
            "plan": _values("free version|free account", "business version|business account", "premium version"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "event_tickets",
        {
            "action": _values(
                "resell|sell on", "give away|pass to a friend", "print|print out", "refund|get my money back for",
                "scan|validate",
            ),
            "object": _values(
                "concert tickets|tickets for a concert", "a festival wristband|my festival pass",
                "a season pass|a season ticket", "VIP seats|premium seats",
                "a standing ticket|a general admission ticket",
            ),
            "context": _values(
                "at the venue|at the box office", "in the ticket wallet|from my ticket wallet",
                "on the resale site|through the resale site", "at the gate|at the entrance",
            ),
            "plan": _values("early bird ticket|early bird price", "standard ticket|regular price", "group booking"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)  # fmt: skip
TRAINING_DOMAINS: tuple[Domain, ...] = (*DOMAINS, *MORE_DOMAINS)

# vocabularies training never sees
HELD_OUT_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "library",
        {
            "action": _values("renew|extend", "reserve|put a hold on", "return|give back", "borrow|check out"),
            "object": _values(
                "an e-book|a digital book",
                "a DVD|a film on DVD",
                "a study room|a group study room",
                "a magazine|a periodical",
                "an audiobook|a spoken-word book",
            ),
            "context": _values(
                "online|on the library website",
                "at the front desk|at the counter",
                "in the library app|on the app",
                "at another branch|at a different branch",
            ),
            "plan": _values(
                "adult card|adult membership", "student card|student membership", "senior card|senior membership"
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "car_rental",
        {
            "action": _values(
                "extend|lengthen", "cancel|call off", "pick up|collect", "drop off|return", "add|include"
            ),
            "object": _values(
                "my rental|my car hire",
                "a child seat|a car seat for a kid",
                "a second driver|an additional driver",
                "GPS|a sat nav",
                "full insurance|comprehensive cover",
            ),
            "context": _values(
                "at the airport|at the airport office",
                "online|on the website",
                "in the app|through the app",
                "at a downtown office|at a city centre branch",
            ),
            "plan": _values("economy car|compact car", "SUV|sport utility vehicle", "van|minivan", "electric car|EV"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "home_energy",
        {
            "action": _values("submit|send", "change|switch", "install|fit", "pause|suspend", "read|check"),
            "object": _values(
                "a meter reading|my meter readings",
                "my tariff|the energy tariff",
                "a smart meter|a smart energy meter",
                "direct debit payments|my direct debit",
                "solar panels|a solar array",
            ),
            "context": _values(
                "online|on the website", "by phone|over the phone", "in the app|from the app", "by email|via email"
            ),
            "plan": _values(
                "fixed tariff|fixed-price plan", "variable tariff|variable-rate plan", "green tariff|renewable plan"
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)

# the tuning split: the frames and domains thresholds are chosen on (`tuning`), seen neither in training nor in
# either held-out split
TUNING_FRAMES: tuple[Frame, ...] = (
    Frame(
        "error",
        (
            "I get an error when I try to {action} {object} {context}.",
            "Why do I see an error trying to {action} {object} {context}?",
            "There is an error every time I {action} {object} {context}, what is wrong?",
        ),
        followups=("Same error {other}, any idea?", "Could it be different {other}?"),
    ),
    Frame(
        "who_can",
        (
            "Who is allowed to {action} {object} {context}?",
            "Which users can {action} {object} {context}?",
            "Who has permission to {action} {object} {context}?",
        ),
        followups=("And who can do it {other}?", "Is that different {other}?"),
    ),
    Frame(
        "charged",
        (
            "Is it free to {action} {object} on the {plan}?",
            "Do I pay extra to {action} {object} on the {plan}?",
            "Does the {plan} charge me to {action} {object}?",
        ),
        negated=("Why is it not free to {action} {object} on the {plan}?",),
        followups=("What about the {other}?", "Is it free on the {other} then?"),
    ),
)
TUNING_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "insurance",
        {
            "action": _values(
                "claim on|make a claim on", "update|change the details of", "cancel|terminate",
                "transfer|move", "review|look over",
            ),
            "object": _values(
                "my home insurance|my house cover", "my car policy|my motor insurance", "travel cover|travel insurance",
                "my beneficiaries|the beneficiaries on my policy", "a no-claims bonus|my no-claims discount",
            ),
            "context": _values(
                "on the portal|in the customer portal", "with an agent|through an agent", "by post|by mail",
                "in the insurance app|on the app",
            ),
            "plan": _values("bronze policy|bronze cover", "silver policy|silver cover", "gold policy|gold cover"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "online_shop",
        {
            "action": _values(
                "track|follow", "return|send back", "exchange|swap", "gift wrap|wrap as a gift", "reorder|order again",
            ),
            "object": _values(
                "my parcel|my package", "a pair of shoes|shoes I bought", "a gift card|a voucher",
                "an item on sale|a discounted item", "a bulk order|a large order",
            ),
            "context": _values(
                "on the shop website|on the store's site", "in the shopping app|through the app",
                "in a physical store|in person at a shop", "through customer service|via the support team",
            ),
            "plan": _values("standard membership|regular membership", "Plus membership|Plus tier", "VIP membership"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "streaming",
        {
            "action": _values(
                "download|save for offline", "stream|watch", "cast|mirror", "rate|review", "hide|remove from view",
            ),
            "object": _values(
                "a movie|a film", "a whole series|an entire show", "live sports|live matches",
                "my watch history|the list of what I watched", "subtitles|captions",
            ),
            "context": _values(
                "on a smart TV|on my TV", "on a laptop|on my computer", "on a tablet|on my iPad",
                "on a games console|on my console",
            ),
            "plan": _values(
                "basic subscription|basic plan", "standard subscription|standard plan",
                "premium subscription|premium plan",
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)  # fmt: skip

# a second held-out split, for reporting only: written before any measurement on it, never tuned or trained on
FRESH_FRAMES: tuple[Frame, ...] = (
    Frame(
        "walk_through",
        (
            "Walk me through how to {action} {object} {context}.",
            "Show me how to {action} {object} {context}.",
            "Give me step-by-step instructions to {action} {object} {context}.",
        ),
        followups=("Now {other}?", "Can you do the same {other}?"),
    ),
    Frame(
        "requirements",
        (
            "What do I need before I {action} {object} {context}?",
            "What are the requirements to {action} {object} {context}?",
            "What do I have to prepare to {action} {object} {context}?",
        ),
        followups=("And {other}, what do I need?", "Are the requirements the same {other}?"),
    ),
    Frame(
        "how_often",
        (
            "Is there a limit on how often I can {action} {object} {context}?",
            "How many times can I {action} {object} {context}?",
            "How often am I allowed to {action} {object} {context}?",
        ),
        followups=("Is the limit lower {other}?", "And {other}?"),
    ),
)
FRESH_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "hotel",
        {
            "action": _values(
                "book|reserve", "upgrade|get an upgrade for", "check out of|leave", "order|request", "cancel|call off",
            ),
            "object": _values(
                "a room|a hotel room", "breakfast|the morning buffet", "a late checkout|a later check-out time",
                "room service|in-room dining", "a parking space|a parking spot",
            ),
            "context": _values(
                "at the front desk|at reception", "on the hotel website|online", "in the hotel app|via the app",
                "over the phone|by calling the hotel",
            ),
            "plan": _values("standard rate|flexible rate", "member rate|loyalty rate", "non-refundable rate"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "university",
        {
            "action": _values(
                "enrol in|sign up for", "withdraw from|drop", "appeal|contest", "defer|postpone", "audit|sit in on",
            ),
            "object": _values(
                "a course|a class", "an exam|a test", "my grades|my marks", "a scholarship|a bursary",
                "a lab session|a practical",
            ),
            "context": _values(
                "through the student portal|on the student portal", "at the registry office|at the registry",
                "by email|over email", "with my advisor|through my academic advisor",
            ),
            "plan": _values("undergraduate programme|bachelor's programme", "master's programme|graduate programme",
                            "part-time programme|part-time study"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "smart_home",
        {
            "action": _values(
                "pair|connect", "reset|factory reset", "schedule|set a timer for", "mute|silence",
                "update|upgrade the firmware of",
            ),
            "object": _values(
                "the thermostat|my thermostat", "a smart plug|the smart socket",
                "the doorbell camera|my video doorbell",
                "the smoke alarm|my smoke detector", "the robot vacuum|my robot hoover",
            ),
            "context": _values(
                "with the hub|through the home hub", "with a voice assistant|by voice command",
                "from the companion app|in the companion app", "over Wi-Fi|via wifi",
            ),
            "plan": _values("free plan|basic tier", "protect plan|security subscription", "pro plan|pro tier"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)  # fmt: skip

# paraphrase operators on a whole question: only the wording changes
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
