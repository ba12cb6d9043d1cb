"""What the learned verifier sees of a (query, cached question) pair: the two MiniLM vectors (their cosine, element-wise
product and absolute difference, as in InferSent-style pair classifiers), a few lexical measures, and the rule
check's verdict. Training and serving both build features here, so the two cannot drift apart."""

from __future__ import annotations

import re

import numpy as np

from llmcache.shared.embedding.base import Vectors

# bump when the layout below changes: a model trained on another layout is refused at load time
FEATURE_LAYOUT = "minilm384-pair-v1"
LEXICAL_NAMES = (
    "word_jaccard",
    "words_only_in_query",
    "words_only_in_cached",
    "length_difference",
    "length_ratio",
    "numbers_differ",
    "same_first_word",
    "rules_allow",
    "same_text_ignoring_case",
    "same_words_any_order",
)
_WORD = re.compile(r"[a-z0-9]+")


def lexical_features(query_text: str, cached_text: str, rules_allow: bool) -> list[float]:
    query_words, cached_words = _WORD.findall(query_text.lower()), _WORD.findall(cached_text.lower())
    query_set, cached_set = set(query_words), set(cached_words)
    union = len(query_set | cached_set) or 1
    longest = max(len(query_words), len(cached_words), 1)
    query_numbers = {w for w in query_set if w.isdigit()}
    cached_numbers = {w for w in cached_set if w.isdigit()}
    return [
        len(query_set & cached_set) / union,
        float(len(query_set - cached_set)),
        float(len(cached_set - query_set)),
        float(abs(len(query_words) - len(cached_words))),
        min(len(query_words), len(cached_words)) / longest,
        float(query_numbers != cached_numbers),
        float(query_words[:1] == cached_words[:1]),
        float(rules_allow),
        float(query_text.lower() == cached_text.lower()),
        float(sorted(query_words) == sorted(cached_words)),
    ]


def pair_features(
    query_text: str, cached_text: str, query_vector: Vectors, cached_vector: Vectors, rules_allow: bool
) -> Vectors:
    """One row: [cosine, query*cached (d), |query-cached| (d), lexical (10)]; vectors are unit length."""
    query = np.asarray(query_vector, dtype=np.float32)
    cached = np.asarray(cached_vector, dtype=np.float32)
    cosine = np.float32(query @ cached)
    lexical = np.asarray(lexical_features(query_text, cached_text, rules_allow), dtype=np.float32)
    return np.concatenate([[cosine], query * cached, np.abs(query - cached), lexical]).astype(np.float32)


def feature_count(dimension: int) -> int:
    return 1 + 2 * dimension + len(LEXICAL_NAMES)
