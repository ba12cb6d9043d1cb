"""The specifics of a question that must match for one answer to serve another: numbers, negation, time, scope,
named entities, opposite actions, and whether the question leans on an earlier turn ("what if ...", "does that").

General English word lists, not tuned to any data set: a question about "monthly" billing is not one about
"yearly" billing, "can I" is not "can't I", "Gold plan" is not "Silver plan", whatever the domain.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

RIGHT_QUOTE = "\u2019"
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|\$?\d+(?:[.,]\d+)*%?")
CONTRACTIONS = {
    "n't": " not", "can't": "can not", "cannot": "can not", "won't": "will not", "shan't": "shall not",
    "'re": " are", "'ve": " have", "'ll": " will", "'d": " would", "'m": " am",
}  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = _words("not no never without none nobody nothing neither nor unable")
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100, "thousand": 1000, "single": 1, "double": 2, "twice": 2, "triple": 3, "half": 0.5,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1, "final": -1,
}  # fmt: skip
# each group: words that name different values of one dimension; two texts using different members disagree
CONTRAST_GROUPS: tuple[frozenset[str], ...] = tuple(
    _words(group)
    for group in (
        "today tomorrow yesterday tonight",
        "daily weekly monthly yearly annually annual quarterly hourly biweekly",
        "day week month year quarter hour minute",
        "morning afternoon evening night midnight noon",
        "weekday weekdays weekend weekends",
        "monday tuesday wednesday thursday friday saturday sunday",
        "january february march april may june july august september october november december",
        "before after during",
        "past future current previous next upcoming",
        "early late",
        "earlier later",
        "first last",
        "new old existing",
        "upgrade downgrade",
        "import export",
        "upload download",
        "increase decrease reduce raise lower",
        "add remove delete",
        "enable disable",
        "activate deactivate",
        "start stop pause resume",
        "open close",
        "lock unlock",
        "buy sell",
        "send receive",
        "accept reject decline",
        "approve approved deny denied reject rejected decline declined",
        "include exclude",
        "join leave",
        "subscribe unsubscribe",
        "login logout",
        "show hide",
        "allow block",
        "mute unmute",
        "follow unfollow",
        "archive restore unarchive",
        "renew cancel terminate extend pause",
        "refund charge",
        "deposit withdraw withdrawal",
        "credit debit",
        "incoming outgoing",
        "inbound outbound",
        "public private",
        "internal external",
        "domestic international abroad",
        "personal business",
        "min minimum max maximum",
        "more less fewer",
        "higher lower",
        "faster slower",
        "cheaper expensive",
        "online offline",
        "mobile desktop web",
        "ios android",
        "free paid",
        "full partial",
        "single multiple",
        "earn spend",
        "win lose",
        "male female",
        "adult child children",
    )
)
SCOPE_WORDS = _words(
    "all every everyone everybody entire whole team organization organisation company workspace family household "
    "everything each both"
)
FOLLOW_UP = re.compile(
    r"^(?:and|also|then|so|but|ok|okay)\b|^(?:what|how) about\b|^what if\b|^(?:does|do|is|was|will|would|can|could|"
    r"should) (?:that|it|this|those|these|they|he|she)\b|^(?:that|it|this|those|these)\b|^same\b|\b(?:instead|too)\?$"
)
STOPWORDS = (
    _words(
        "a an the i me my mine we our us you your yours he she it its they them their this that these those is are "
        "was were be been being am do does did doing have has had having can could would should will shall may might "
        "must to of in on at by for with about as into through from up down out over under again further then once "
        "here there when where why how what which who whom whose all any both each few most other some such only own "
        "same so than too very just also and or but if because until while please hi hello hey thanks thank i'm "
        "i've i'd i'll get got want need like know tell help way able"
    )
    - NEGATIONS
    - SCOPE_WORDS
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace(RIGHT_QUOTE, "'")
    for short, long in CONTRACTIONS.items():
        text = text.replace(short, long)
    return text


@cache
def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@dataclass(frozen=True)
class Specifics:
    tokens: tuple[str, ...]
    content: frozenset[str]  # stemmed content words
    numbers: frozenset[float]
    negated: bool
    contrasts: tuple[frozenset[str], ...]  # for each contrast group, the members used
    scope: frozenset[str]
    entities: frozenset[str]
    follow_up: bool


def _numbers(tokens: tuple[str, ...]) -> frozenset[float]:
    values: set[float] = set()
    for token in tokens:
        cleaned = token.strip("$%").replace(",", "")
        try:
            values.add(float(cleaned))
            continue
        except ValueError:
            pass
        if token in NUMBER_WORDS:
            values.add(float(NUMBER_WORDS[token]))
    return frozenset(values)


def _entities(original: str) -> frozenset[str]:
    """Capitalised words not opening a sentence, and tokens mixing letters and digits (plan and product names)."""
    found: set[str] = set()
    for sentence in re.split(r"[.!?]\s+", original.strip()):
        words = re.findall(r"[A-Za-z][\w+-]*", sentence)
        for index, word in enumerate(words):
            if index > 0 and word[0].isupper() and word.lower() not in STOPWORDS and word != "I":
                found.add(word.lower())
            if re.search(r"[A-Za-z]", word) and re.search(r"\d", word):
                found.add(word.lower())
    return frozenset(found)


def extract(text: str) -> Specifics:
    normal = normalise(text)
    tokens = tuple(WORD.findall(normal))
    token_set = set(tokens)
    return Specifics(
        tokens=tokens,
        content=frozenset(_stem(t) for t in tokens if t not in STOPWORDS),
        numbers=_numbers(tokens),
        negated=bool(token_set & NEGATIONS),
        contrasts=tuple(frozenset(group & token_set) for group in CONTRAST_GROUPS),
        scope=frozenset(token_set & SCOPE_WORDS),
        entities=_entities(text),
        follow_up=bool(FOLLOW_UP.search(normal.strip())),
    )


def conflicts(query: Specifics, cached: Specifics) -> list[str]:
    """Why the two cannot share an answer (empty: no conflict found)."""
    reasons: list[str] = []
    if query.numbers != cached.numbers and (query.numbers or cached.numbers):
        reasons.append("number")
    if query.negated != cached.negated:
        reasons.append("negation")
    for mine, theirs in zip(query.contrasts, cached.contrasts, strict=True):
        if mine and theirs and mine != theirs:
            reasons.append("contrast:" + "/".join(sorted(mine ^ theirs)))
    if query.scope != cached.scope and (query.scope - cached.scope or cached.scope - query.scope):
        reasons.append("scope")
    if query.entities - cached.entities and cached.entities - query.entities:  # one name swapped for another
        reasons.append("entity")
    if query.follow_up and not cached.follow_up:
        reasons.append("follow-up")
    return reasons
