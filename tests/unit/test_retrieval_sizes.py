"""bench/quality.py --retrieval-sizes: the distractors that fill the cache around the looked-up sample."""

from __future__ import annotations

import pytest

from bench.quality import retrieval_corpus
from llmcache.quality.evaluation import Pair


def pair(a: str, b: str, label: int = 1) -> Pair:
    return Pair(a=a, b=b, label=label)


SAMPLE = [pair("How do I learn Python?", "What is the best way to learn Python?"), pair("Is tea healthy?", "Why?")]
VAL = [*SAMPLE, pair("What is a black hole?", "How are black holes formed?"), pair(" Why?  ", "Is tea healthy?")]
TRAIN = [pair("How tall is Everest?", "What is a black hole?"), pair("Who wrote Hamlet?", "Who wrote Macbeth?")]


def test_distractors_never_repeat_a_stored_or_looked_up_question() -> None:
    corpus = retrieval_corpus(SAMPLE, VAL, TRAIN, 6)
    # the sample's own `a` are left to collect_candidates; a looked-up `b` ("Why?", once normalised) would be an
    # exact hit; a question seen twice is stored once
    assert corpus == ["What is a black hole?", "How tall is Everest?", "Who wrote Hamlet?", "Who wrote Macbeth?"]


def test_a_smaller_size_is_a_prefix_of_a_larger_one() -> None:
    assert retrieval_corpus(SAMPLE, VAL, TRAIN, 4) == retrieval_corpus(SAMPLE, VAL, TRAIN, 6)[:2]


def test_too_few_questions_for_the_size_is_an_error() -> None:
    with pytest.raises(SystemExit, match="only 6 distinct questions"):
        retrieval_corpus(SAMPLE, VAL, TRAIN, 7)
