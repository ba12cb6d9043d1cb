"""The evaluation splits of the synthetic pairs, disjoint from the training vocabularies (`synthetic_vocabulary`):
tuning (`TUNING_*`, read only to choose defaults) and two held-out splits (`HELD_OUT_*`, `FRESH_*`) that no
training or tuning ever reads. Their domains *and* frames are new, so a held-out pair tests generalisation, not
memory."""

from __future__ import annotations

from llmcache.quality.synthetic_vocabulary import NUMBERS_COMMON, TIMES_COMMON, Domain, Frame, value_set

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


HELD_OUT_DOMAINS: tuple[Domain, ...] = (
    Domain(
        "library",
        {
            "action": value_set("renew|extend", "reserve|put a hold on", "return|give back", "borrow|check out"),
            "object": value_set(
                "an e-book|a digital book",
                "a DVD|a film on DVD",
                "a study room|a group study room",
                "a magazine|a periodical",
                "an audiobook|a spoken-word book",
            ),
            "context": value_set(
                "online|on the library website",
                "at the front desk|at the counter",
                "in the library app|on the app",
                "at another branch|at a different branch",
            ),
            "plan": value_set(
                "adult card|adult membership", "student card|student membership", "senior card|senior membership"
            ),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "car_rental",
        {
            "action": value_set(
                "extend|lengthen", "cancel|call off", "pick up|collect", "drop off|return", "add|include"
            ),
            "object": value_set(
                "my rental|my car hire",
                "a child seat|a car seat for a kid",
                "a second driver|an additional driver",
                "GPS|a sat nav",
                "full insurance|comprehensive cover",
            ),
            "context": value_set(
                "at the airport|at the airport office",
                "online|on the website",
                "in the app|through the app",
                "at a downtown office|at a city centre branch",
            ),
            "plan": value_set("economy car|compact car", "SUV|sport utility vehicle", "van|minivan", "electric car|EV"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "home_energy",
        {
            "action": value_set("submit|send", "change|switch", "install|fit", "pause|suspend", "read|check"),
            "object": value_set(
                "a meter reading|my meter readings",
                "my tariff|the energy tariff",
                "a smart meter|a smart energy meter",
                "direct debit payments|my direct debit",
                "solar panels|a solar array",
            ),
            "context": value_set(
                "online|on the website", "by phone|over the phone", "in the app|from the app", "by email|via email"
            ),
            "plan": value_set(
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
            "action": value_set(
                "claim on|make a claim on", "update|change the details of", "cancel|terminate",
                "transfer|move", "review|look over",
            ),
            "object": value_set(
                "my home insurance|my house cover", "my car policy|my motor insurance", "travel cover|travel insurance",
                "my beneficiaries|the beneficiaries on my policy", "a no-claims bonus|my no-claims discount",
            ),
            "context": value_set(
                "on the portal|in the customer portal", "with an agent|through an agent", "by post|by mail",
                "in the insurance app|on the app",
            ),
            "plan": value_set("bronze policy|bronze cover", "silver policy|silver cover", "gold policy|gold cover"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "online_shop",
        {
            "action": value_set(
                "track|follow", "return|send back", "exchange|swap", "gift wrap|wrap as a gift", "reorder|order again",
            ),
            "object": value_set(
                "my parcel|my package", "a pair of shoes|shoes I bought", "a gift card|a voucher",
                "an item on sale|a discounted item", "a bulk order|a large order",
            ),
            "context": value_set(
                "on the shop website|on the store's site", "in the shopping app|through the app",
                "in a physical store|in person at a shop", "through customer service|via the support team",
            ),
            "plan": value_set("standard membership|regular membership", "Plus membership|Plus tier", "VIP membership"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "streaming",
        {
            "action": value_set(
                "download|save for offline", "stream|watch", "cast|mirror", "rate|review", "hide|remove from view",
            ),
            "object": value_set(
                "a movie|a film", "a whole series|an entire show", "live sports|live matches",
                "my watch history|the list of what I watched", "subtitles|captions",
            ),
            "context": value_set(
                "on a smart TV|on my TV", "on a laptop|on my computer", "on a tablet|on my iPad",
                "on a games console|on my console",
            ),
            "plan": value_set(
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
            "action": value_set(
                "book|reserve", "upgrade|get an upgrade for", "check out of|leave", "order|request", "cancel|call off",
            ),
            "object": value_set(
                "a room|a hotel room", "breakfast|the morning buffet", "a late checkout|a later check-out time",
                "room service|in-room dining", "a parking space|a parking spot",
            ),
            "context": value_set(
                "at the front desk|at reception", "on the hotel website|online", "in the hotel app|via the app",
                "over the phone|by calling the hotel",
            ),
            "plan": value_set("standard rate|flexible rate", "member rate|loyalty rate", "non-refundable rate"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "university",
        {
            "action": value_set(
                "enrol in|sign up for", "withdraw from|drop", "appeal|contest", "defer|postpone", "audit|sit in on",
            ),
            "object": value_set(
                "a course|a class", "an exam|a test", "my grades|my marks", "a scholarship|a bursary",
                "a lab session|a practical",
            ),
            "context": value_set(
                "through the student portal|on the student portal", "at the registry office|at the registry",
                "by email|over email", "with my advisor|through my academic advisor",
            ),
            "plan": value_set("undergraduate programme|bachelor's programme", "master's programme|graduate programme",
                            "part-time programme|part-time study"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
    Domain(
        "smart_home",
        {
            "action": value_set(
                "pair|connect", "reset|factory reset", "schedule|set a timer for", "mute|silence",
                "update|upgrade the firmware of",
            ),
            "object": value_set(
                "the thermostat|my thermostat", "a smart plug|the smart socket",
                "the doorbell camera|my video doorbell",
                "the smoke alarm|my smoke detector", "the robot vacuum|my robot hoover",
            ),
            "context": value_set(
                "with the hub|through the home hub", "with a voice assistant|by voice command",
                "from the companion app|in the companion app", "over Wi-Fi|via wifi",
            ),
            "plan": value_set("free plan|basic tier", "protect plan|security subscription", "pro plan|pro tier"),
            "number": NUMBERS_COMMON,
            "time": TIMES_COMMON,
        },
    ),
)  # fmt: skip

# paraphrase operators on a whole question: only the wording changes
