"""The specifics of a question that must match for one answer to serve another: numbers, negation, time, scope,
named entities, opposite actions, and whether the question leans on an earlier turn ("what if ...", "does that").

General English word lists, not tuned to any data set: a question about "monthly" billing is not one about
"yearly" billing, "can I" is not "can't I", "Gold plan" is not "Silver plan", whatever the domain.
"""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

RIGHT_QUOTE = "\u2019"
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|\$?\d+(?:[.,]\d+)*%?")
CONTRACTIONS = {  # irregular forms first: "can't" must not become "ca not"
    "can't": "can not", "cannot": "can not", "won't": "will not", "shan't": "shall not", "n't": " not",
    "'re": " are", "'ve": " have", "'ll": " will", "'d": " would", "'m": " am",
}  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = _words("not no never without none nobody nothing neither nor unable")
NUMBER_WORDS = {  # "one" is left out: far more often a pronoun ("a new one") than a count
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100, "thousand": 1000, "twice": 2, "triple": 3, "third": 3, "fourth": 4, "fifth": 5,
}  # fmt: skip
# each group: words that name different values of one dimension; two texts using different members disagree
# each group: mutually exclusive values of one dimension; two texts naming different members disagree
CONTRAST_GROUPS: tuple[frozenset[str], ...] = tuple(
    _words(group)
    for group in (
        "today tomorrow yesterday tonight",
        "daily weekly monthly yearly quarterly hourly",
        "day week month year quarter hour minute",
        "morning afternoon evening night",
        "weekday weekend",
        "monday tuesday wednesday thursday friday saturday sunday",
        "january february march april june july august september october november december",
        "before after",
        "past future",
        "previous next",
        "early late",
        "up down",
        "earlier later",
        "first last",
        "new old",
        "in out",
        "on off",
        "upgrade downgrade",
        "import export",
        "upload download",
        "increase decrease",
        "increase reduce",
        "extend shorten",
        "book cancel",
        "book reschedule",
        "cancel reschedule",
        "cancel rebook",
        "raise lower",
        "add remove",
        "add delete",
        "create delete",
        "enable disable",
        "activate deactivate",
        "start stop",
        "pause resume",
        "open close",
        "lock unlock",
        "buy sell",
        "send receive",
        "accept reject",
        "accept decline",
        "approve deny",
        "approve reject",
        "approved denied",
        "approved rejected",
        "approved declined",
        "include exclude",
        "included excluded",
        "join leave",
        "subscribe unsubscribe",
        "login logout",
        "show hide",
        "allow block",
        "follow unfollow",
        "archive restore",
        "renew cancel",
        "renew terminate",
        "pause cancel",
        "refund charge",
        "refund replacement",
        "refund repair",
        "deposit withdraw",
        "credit debit",
        "incoming outgoing",
        "inbound outbound",
        "public private",
        "internal external",
        "domestic international",
        "domestic abroad",
        "personal business",
        "min max",
        "minimum maximum",
        "more less",
        "higher lower",
        "faster slower",
        "cheaper expensive",
        "online offline",
        "ios android",
        "free paid",
        "full partial",
        "single multiple",
        "earn spend",
        "win lose",
        "success failure",
        "succeed fail",
        "succeeded failed",
        "pass fail",
        "passed failed",
        "eligible ineligible excluded",
        "insured uninsured",
        "employed unemployed",
        "male female",
        "adult child",
    )
)
CONTRAST_WORDS = frozenset().union(*CONTRAST_GROUPS)
NO_WORDS: frozenset[str] = frozenset()
# a named day is a weekday or a weekend day: "on Saturdays" and "on weekday evenings" disagree
DAY_KIND = {day: "weekday" for day in ("monday", "tuesday", "wednesday", "thursday", "friday")} | {
    "saturday": "weekend",
    "sunday": "weekend",
}
SCOPE_WORDS = _words("all every each entire whole everyone everybody everything both multiple several across")
# a group's name widens the scope when it is the owner ("my team's scores", "our household"), not when it
# qualifies another noun ("a family doctor", "team lunches")
GROUP_WORDS = _words("organization organisation team workspace family household")
GROUP_OWNER = re.compile(r"\b(?:my|our|your|their|his|her)\s+(" + "|".join(GROUP_WORDS) + r")\b")
# a point or period in time a question is anchored to; on one side only, the two ask about different times
TIME_ANCHORS = _words(
    "today tomorrow yesterday tonight daily weekly monthly yearly annually quarterly hourly weekday weekend "
    "monday tuesday wednesday thursday friday saturday sunday ago recent recently overdue deadline"
)
# relative to a unit ("last month", "next week") they anchor too; alone ("before my flight", "a snapshot I took
# earlier") they relate two events, which a rewording adds or drops freely; both sides naming one still disagree
# through the contrast groups
RELATIVE_TIME = re.compile(
    r"\b(?:this|last|next|previous|past|coming|current)\s+(?:day|week|month|year|quarter|hour|minute|weekend|night|"
    r"season|winter|summer|spring|autumn|fall)s?\b"
)
# "per day", "every year", "twice a month": the frequency word, so "in one day" and "daily" agree
FREQUENCY = re.compile(
    r"\b(?:per|each|every|in one|in a|once a|twice a|times a)\s+(day|week|month|year|hour|quarter)\b"
)
FREQUENCY_WORD = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly", "hour": "hourly",
                  "quarter": "quarterly"}  # fmt: skip
FOLLOW_UP = re.compile(
    r"^(?:and|also|then|but)\b|^(?:what|how) about\b|^what if\b|^(?:does|do|will|would|can|could|should|is|was) "
    r"(?:that|those|these)\b|^(?:that|those|these)\b|^same\b|\b(?:instead|too)\?$"
)
STOPWORDS = (
    _words(
        "a an the i me my mine we our us you your yours he she it its they them their this that these those is are "
        "was were be been being am do does did doing have has had having can could would should will shall may might "
        "must to of in on at by for with about as into through from up down out over under again further then once "
        "here there when where why how what which who whom whose all any both each few most other some such only own "
        "same so than too very just also and or but if because until while please hi hello hey thanks thank i'm "
        "i've i'd i'll get got want need like know tell help way able reason process procedure step steps possible "
        "whats something anything thing things exactly really actually kind sort ok okay still"
    )
    - NEGATIONS
    - SCOPE_WORDS
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace(RIGHT_QUOTE, "'")
    for short, long in CONTRACTIONS.items():
        text = text.replace(short, long)
    return FREQUENCY.sub(lambda match: FREQUENCY_WORD[match.group(1)], text)


_STEMMER_LOCK = threading.Lock()


@cache
def _english_stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Snowball (Porter 2) stem: `assessed`, `assessment` -> `assess`. The stemmer keeps state: one at a time."""
    with _STEMMER_LOCK:
        return str(_english_stemmer().stemWord(word))


NEGATING_PREFIXES = ("un", "non", "dis", "in", "im", "il", "ir", "de", "anti", "mis")
SWAPPED_PREFIXES = (("in", "ex"), ("im", "ex"), ("up", "down"), ("in", "out"), ("over", "under"), ("pre", "post"))
PIVOTS = _words("instead rather than before after vs versus over into from to then")
NEAR_DUPLICATE_JACCARD = 0.5
MAX_CHANGED_WORDS = 2
MIN_FRAME = 2
MAX_SLOT_WORDS = 2
# discourse fillers that carry no specific ("Quick question:", "Thanks in advance", "Sorry if this is obvious") and
# prepositions the stopwords lack ("via the API" / "on the app"): left out of the content a slot is made of
FILLERS = _words("advance quick question sorry obvious wondering idea appreciated cheers anyone someone via using")
MAX_SLOT_CONTENT = 2  # content words on either side of a swapped slot


@dataclass(frozen=True)
class Specifics:
    tokens: tuple[str, ...]
    content: frozenset[str]  # stemmed content words
    content_sequence: tuple[str, ...]
    numbers: frozenset[float]
    negated: bool
    contrasts: tuple[frozenset[str], ...]  # for each contrast group, the members used
    scope: frozenset[str]
    times: frozenset[str]
    entities: frozenset[str]
    follow_up: bool
    foreign: frozenset[str] = frozenset()  # non-ASCII tokens (`_foreign`)


# scripts written without spaces between words (CJK ideographs, kana, Thai, Lao, Myanmar, Khmer): compared by
# character bigrams; other non-ASCII words (Cyrillic, Greek, Arabic, accented Latin, Hangul) as words
UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]+")
LETTERS = re.compile(r"[^\W\d_]+")
# the English rules cannot read other languages: two texts with non-ASCII words must share at least this much of
# them (Jaccard of the tokens above), a strict floor in place of rules that would see no specifics at all
FOREIGN_SAME = 0.6


def _foreign(normal: str) -> frozenset[str]:
    """Non-ASCII tokens: bigrams of unspaced scripts (a lone character stands for itself), other non-ASCII words."""
    tokens: set[str] = set()
    for run in UNSPACED.findall(normal):
        tokens |= {run[i : i + 2] for i in range(len(run) - 1)} or {run}
    for word in LETTERS.findall(UNSPACED.sub(" ", normal)):
        if not word.isascii():
            tokens.add(word)
    return frozenset(tokens)


LEADING_NUMBER = re.compile(r"^(\d+)[a-z]+$")  # "2fa", "4k", "10pm", "3rd"


def _numbers(tokens: tuple[str, ...]) -> frozenset[float]:
    values: set[float] = set()
    for token in tokens:
        leading = LEADING_NUMBER.match(token)
        cleaned = leading.group(1) if leading else token.strip("$%").replace(",", "")
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


def _singular(token: str) -> str:
    if token not in CONTRAST_WORDS and token.endswith("s") and token[:-1] in CONTRAST_WORDS:
        return token[:-1]
    return token


def extract(text: str) -> Specifics:
    normal = normalise(text)
    # possessive 's off: "this month's revenue" names the month, "a small business's return" the business
    tokens = tuple(t[:-2] if t.endswith("'s") else t for t in WORD.findall(normal))
    token_set = set(tokens)
    sequence = tuple(_stem(t) for t in tokens if t not in STOPWORDS and t not in NEGATIONS)
    contrast_tokens = {_singular(t) for t in tokens}
    contrast_tokens |= {DAY_KIND[t] for t in contrast_tokens if t in DAY_KIND}
    return Specifics(
        tokens=tokens,
        content=frozenset(sequence),
        content_sequence=sequence,
        numbers=_numbers(tokens),
        negated=bool(token_set & NEGATIONS),
        # most groups are absent from a text: one shared empty set keeps a memoised Specifics at ~4 KB, not ~24
        contrasts=tuple((group & contrast_tokens) or NO_WORDS for group in CONTRAST_GROUPS),
        scope=frozenset(token_set & SCOPE_WORDS) | frozenset(GROUP_OWNER.findall(normal)),
        times=frozenset(contrast_tokens & TIME_ANCHORS) | frozenset(RELATIVE_TIME.findall(normal)),
        entities=_entities(text),
        follow_up=bool(FOLLOW_UP.search(normal.strip())),
        foreign=_foreign(normal),
    )


def conflicts(query: Specifics, cached: Specifics) -> list[str]:
    """Why the two cannot share an answer (empty: no conflict found)."""
    reasons: list[str] = []
    if query.numbers != cached.numbers:  # a count, amount or date on one side only is a specific too
        reasons.append("number")
    for mine, theirs in zip(query.contrasts, cached.contrasts, strict=True):
        if mine and theirs and mine != theirs:
            reasons.append("contrast:" + "/".join(sorted(mine ^ theirs)))
    # a group both texts name ("invite a colleague to my team" / "add a team member") widens neither
    query_scope = query.scope - (GROUP_WORDS & set(cached.tokens))
    cached_scope = cached.scope - (GROUP_WORDS & set(query.tokens))
    if bool(query_scope) != bool(cached_scope):
        reasons.append("scope")
    if bool(query.times) != bool(cached.times) or (
        query.times and cached.times and query.times.isdisjoint(cached.times)
    ):  # on one side only, or two different anchors ("tonight" / "next weekend")
        reasons.append("time")
    if query.entities - cached.entities and cached.entities - query.entities:  # one name swapped for another
        reasons.append("entity")
    if query.follow_up and not cached.follow_up:
        reasons.append("follow-up")
    if (query.foreign or cached.foreign) and _jaccard(query.foreign, cached.foreign) < FOREIGN_SAME:
        reasons.append("foreign-text")
    reasons += _near_duplicate_conflicts(query, cached)
    if not reasons and _swapped_slot(query.tokens, cached.tokens):
        reasons.append("swapped-slot")
    return reasons


def _jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def _polar_pair(first: str, second: str) -> bool:
    """`insured`/`uninsured`, `block`/`unblock`, `included`/`excluded`, `upgrade`/`downgrade`, ..."""
    for word, other in ((first, second), (second, first)):
        if any(word == prefix + other for prefix in NEGATING_PREFIXES):
            return True
        for left, right in SWAPPED_PREFIXES:
            if word.startswith(left) and other.startswith(right) and word[len(left) :] == other[len(right) :]:
                return True
    return False


def _swapped_span(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """The same question around one slot filled differently: "baggage allowance in [economy]" / "in [business
    class]". A rewording changes the frame too."""
    prefix = 0
    while prefix < min(len(first), len(second)) and first[prefix] == second[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(first), len(second)) - prefix and first[-1 - suffix] == second[-1 - suffix]:
        suffix += 1
    slots = (first[prefix : len(first) - suffix], second[prefix : len(second) - suffix])
    sizes = sorted(len(slot) for slot in slots)
    return (
        prefix + suffix >= MIN_FRAME
        and sizes[0] == 1  # one word on one side at least: a name or a value, not a reworded phrase
        and sizes[1] <= MAX_SLOT_WORDS
        and set(slots[0]).isdisjoint(slots[1])
    )


def _is_content(word: str) -> bool:
    return word not in STOPWORDS and word not in NEGATIONS and word not in FILLERS


def _swapped_slot(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """The same question with one slot refilled: aligned on stems (difflib), the two texts differ in content in one
    place only, where each side has one or two content words and none in common ("[turn off] webhooks on the mobile
    app" / "[set up] webhooks ..."), and share content elsewhere. Differences in stopwords and fillers alone
    ("Hi,", "How can I" / "How do I") do not count. A synonym in the slot ("turn off" / "disable") has the same
    shape, which is why this is a soft conflict that the pair model may overrule when it is very sure."""
    stems = [_stem(word) for word in first], [_stem(word) for word in second]
    matcher = difflib.SequenceMatcher(None, stems[0], stems[1], autojunk=False)
    shared = 0
    slots: list[tuple[list[str], list[str]]] = []
    for operation, i1, i2, j1, j2 in matcher.get_opcodes():
        if operation == "equal":
            shared += sum(_is_content(word) for word in first[i1:i2])
            continue
        mine = [stems[0][i] for i in range(i1, i2) if _is_content(first[i])]
        theirs = [stems[1][j] for j in range(j1, j2) if _is_content(second[j])]
        if mine or theirs:
            slots.append((mine, theirs))
    if len(slots) != 1 or shared < 1:
        return False
    mine, theirs = slots[0]
    return 0 < len(mine) <= MAX_SLOT_CONTENT and 0 < len(theirs) <= MAX_SLOT_CONTENT and set(mine).isdisjoint(theirs)


def _near_duplicate_conflicts(query: Specifics, cached: Specifics) -> list[str]:
    """Two questions that share most of their content words but not all differ in a specific: a word swapped
    (`excluded`/`eligible`, `repair`/`refund`), added (`my orders` / `my roommate's orders`) or reordered around a
    relation (`repair instead of a refund` / `refund instead of a repair`). Reworded paraphrases share few words
    and are left to the similarity score."""
    union = query.content | cached.content
    if not union:
        return []
    only_query = query.content - cached.content
    only_cached = cached.content - query.content
    if any(_polar_pair(a, b) for a in only_query for b in only_cached):
        return ["polarity"]
    jaccard = len(query.content & cached.content) / len(union)
    if jaccard < NEAR_DUPLICATE_JACCARD:
        return ["swapped-span"] if _swapped_span(query.content_sequence, cached.content_sequence) else []
    if query.negated != cached.negated:
        return ["negation"]
    if only_query or only_cached:
        # one word swapped or added in an otherwise identical question changes what is asked; a rewording
        # changes several words at once and is left to the similarity score
        if len(only_query) + len(only_cached) <= MAX_CHANGED_WORDS:
            return ["changed-specific"]
        return []
    pivoted = PIVOTS & (set(query.tokens) | set(cached.tokens))
    if pivoted and query.content_sequence != cached.content_sequence:
        return ["reordered"]
    return []
