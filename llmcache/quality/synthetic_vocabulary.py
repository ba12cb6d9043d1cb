"""The vocabularies of the synthetic pairs (`synthetic_pairs`): question *frames* (domain-free shapes over slot
types, each in several wordings of one intent) and *domains* (values for the slot types, each with its synonyms),
for training (`TRAINING_DOMAINS` over `FRAMES`). The tuning and held-out splits, disjoint from these, are in
`synthetic_splits`."""

from __future__ import annotations

from dataclasses import dataclass

SlotType = str  # action | object | context | plan | number | time


@dataclass(frozen=True)
class Value:
    """One value of a slot: its wordings are interchangeable, two values are not."""

    wordings: tuple[str, ...]


def value_set(*groups: str) -> tuple[Value, ...]:
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
CONTEXTS_COMMON = value_set(
    "on the mobile app|in the mobile app|from the phone app",
    "on the website|in the web version|from the browser",
    "via the API|through the API|using the API",
    "on the desktop app|in the desktop client",
)
TIMES_COMMON = value_set(
    "today|later today", "tomorrow|the next day", "at the weekend|on the weekend|on Saturday or Sunday",
    "next week|during the following week", "at night|overnight", "on a public holiday|during a bank holiday",
)  # fmt: skip
NUMBERS_COMMON = value_set("2|two", "3|three", "5|five", "10|ten", "20|twenty", "100|a hundred")

DOMAINS: tuple[Domain, ...] = (
    Domain(
        "project_tool",
        {
            "action": value_set(
                "turn off|disable|switch off|deactivate",
                "set up|configure|create",
                "delete|remove",
                "export|download a copy of",
                "share|send",
                "rename|change the name of",
            ),
            "object": value_set(
                "webhooks|webhook notifications",
                "task dependencies|dependencies between tasks",
                "automations|automated rules",
                "recurring tasks|repeating tasks",
                "the project board|my board",
                "custom fields|custom properties",
            ),
            "context": CONTEXTS_COMMON,
            "plan": value_set(
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
            "action": value_set("transfer|send", "freeze|block", "order|request", "cancel|stop", "open|start"),
            "object": value_set(
                "my debit card|the debit card",
                "a savings account|a savings pot",
                "a standing order|a recurring payment",
                "an overdraft|an overdraft facility",
                "a credit card|a new credit card",
                "money abroad|funds overseas",
            ),
            "context": value_set(
                "in the banking app|on the banking app|in the app",
                "at a branch|in a branch|in person",
                "over the phone|by phone|by calling",
                "online banking|on the online banking site",
            ),
            "plan": value_set(
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
            "action": value_set(
                "change|modify", "cancel|call off", "upgrade|move up", "add|include", "check in|do check-in for"
            ),
            "object": value_set(
                "my flight|my booking",
                "a checked bag|hold luggage",
                "my seat|the seat I chose",
                "a pet|my dog",
                "an infant|a baby",
                "extra legroom|a seat with more legroom",
            ),
            "context": value_set(
                "online|on the website",
                "at the airport|at the desk in the airport",
                "in the airline app|on the app",
                "through a travel agent|via my travel agent",
            ),
            "plan": value_set(
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
            "action": value_set(
                "deploy|ship",
                "roll back|revert",
                "debug|troubleshoot",
                "cache|store in cache",
                "lint|run the linter on",
                "scale|resize",
            ),
            "object": value_set(
                "a Docker image|a container image",
                "the database migrations|the schema migrations",
                "a Python package|a pip package",
                "environment variables|env vars",
                "a cron job|a scheduled job",
                "the staging server|the staging environment",
            ),
            "context": value_set(
                "on Kubernetes|in a Kubernetes cluster",
                "with GitHub Actions|in a GitHub Actions workflow",
                "on Windows|on a Windows machine",
                "on macOS|on a Mac",
                "in a monorepo|inside a monorepo",
            ),
            "plan": value_set("free tier|free plan", "team plan|team tier", "enterprise plan|enterprise tier"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "fitness_app",
        {
            "action": value_set("log|record", "pause|put on hold", "sync|synchronise", "share|post", "delete|erase"),
            "object": value_set(
                "a workout|a training session",
                "my membership|my gym membership",
                "my heart rate data|heart rate readings",
                "a meal plan|a diet plan",
                "my step count|my steps",
            ),
            "context": value_set(
                "with my smartwatch|from my smartwatch",
                "on the phone app|in the mobile app",
                "with Apple Health|through Apple Health",
                "on the website|in the browser",
            ),
            "plan": value_set(
                "Basic membership|basic plan", "Premium membership|premium plan", "Family membership|family plan"
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "telecom",
        {
            "action": value_set(
                "activate|turn on", "cancel|end", "transfer|move", "top up|add credit to", "unlock|free up"
            ),
            "object": value_set(
                "roaming|international roaming",
                "my SIM card|the SIM",
                "my phone number|my number",
                "a data add-on|an extra data bundle",
                "voicemail|my voicemail box",
            ),
            "context": value_set(
                "in a store|in a shop", "online|on the website", "in the app|from the app", "by text message|via SMS"
            ),
            "plan": value_set(
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
            "action": value_set(
                "customise|adjust", "split|divide", "tip on|leave a tip on", "complain about|report a problem with",
                "pre-order|order ahead",
            ),
            "object": value_set(
                "the bill|the check", "a takeaway|food to go", "a tasting menu|the chef's menu",
                "a birthday cake|a cake for a birthday", "a vegan dish|a plant-based meal",
            ),
            "context": value_set(
                "at the table|from my table", "through the delivery app|with the delivery app",
                "by QR code|by scanning the QR code", "at the bar|by the bar",
            ),
            "plan": value_set("lunch menu|lunch deal", "dinner menu|evening menu", "loyalty club|rewards club"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "photo_storage",
        {
            "action": value_set(
                "back up|make a backup of", "tag|label", "print|get prints of", "restore|recover", "crop|trim",
            ),
            "object": value_set(
                "my photo albums|my albums", "old videos|my home videos", "screenshots|screen captures",
                "a shared gallery|a shared collection", "RAW files|raw images",
            ),
            "context": value_set(
                "from my camera|off my camera", "on the desktop uploader|with the desktop uploader",
                "in the web gallery|in the online gallery", "from an SD card|off a memory card",
            ),
            "plan": value_set("starter storage|starter tier", "plus storage|plus tier", "unlimited storage"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "parking",
        {
            "action": value_set(
                "pay for|settle", "challenge|dispute", "top up|add time to", "register|sign up", "find|locate",
            ),
            "object": value_set(
                "a parking ticket|a parking fine", "a resident permit|my residents' permit",
                "a parking session|my parking time", "a charging bay|an EV charging spot",
                "a disabled badge|a blue badge",
            ),
            "context": value_set(
                "at the pay machine|at the ticket machine", "with the parking app|in the parking app",
                "at the council office|at the town hall", "by text|with a text message",
            ),
            "plan": value_set("hourly parking|pay by the hour", "season ticket|season pass", "visitor permit"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "messaging",
        {
            "action": value_set(
                "pin|keep at the top", "forward|pass on", "archive|hide away", "translate|auto-translate",
                "report|flag",
            ),
            "object": value_set(
                "a group chat|a group conversation", "voice notes|voice messages", "a contact|someone in my contacts",
                "disappearing messages|self-deleting messages", "stickers|sticker packs",
            ),
            "context": value_set(
                "on the desktop version|in the desktop version", "on my watch|from my smartwatch",
                "in a channel|inside a channel", "on the web app|in the web client",
            ),
            "plan": value_set("free version|free account", "business version|business account", "premium version"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "event_tickets",
        {
            "action": value_set(
                "resell|sell on", "give away|pass to a friend", "print|print out", "refund|get my money back for",
                "scan|validate",
            ),
            "object": value_set(
                "concert tickets|tickets for a concert", "a festival wristband|my festival pass",
                "a season pass|a season ticket", "VIP seats|premium seats",
                "a standing ticket|a general admission ticket",
            ),
            "context": value_set(
                "at the venue|at the box office", "in the ticket wallet|from my ticket wallet",
                "on the resale site|through the resale site", "at the gate|at the entrance",
            ),
            "plan": value_set("early bird ticket|early bird price", "standard ticket|regular price", "group booking"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)  # fmt: skip
TRAINING_DOMAINS: tuple[Domain, ...] = (*DOMAINS, *MORE_DOMAINS)

# vocabularies training never sees
