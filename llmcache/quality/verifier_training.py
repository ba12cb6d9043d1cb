"""Trains the learned pair verifier on labelled pairs (the Quora training file): embeds every distinct text with the
serving embedder, builds the serving features, fits LightGBM deterministically and writes model and card."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import structlog

from llmcache.quality.evaluation import Pair
from llmcache.shared.embedding.base import Embedder, Vectors
from llmcache.shared.guard.features import FEATURE_LAYOUT, pair_features
from llmcache.shared.guard.learned import ModelCard, write_model
from llmcache.shared.guard.verifier import SpecificsGuard

log = structlog.get_logger(__name__)

EMBED_CHUNK = 512
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 63,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.5,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbose": -1,
}


def training_matrix(
    pairs: Sequence[Pair], embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> tuple[Vectors, Vectors]:
    """Features of (query=b, cached=a) for every pair, and the labels."""
    texts = sorted({text.strip() for pair in pairs for text in (pair.a, pair.b)})
    vectors: list[Vectors] = []
    for start in range(0, len(texts), EMBED_CHUNK):
        vectors.append(embedder.embed_batch(texts[start : start + EMBED_CHUNK]))
        if progress is not None:
            progress(min(start + EMBED_CHUNK, len(texts)), len(texts))
    matrix = np.concatenate(vectors)
    row_of = {text: row for row, text in enumerate(texts)}
    rules = SpecificsGuard()
    features = np.vstack(
        [
            pair_features(
                query,
                cached,
                matrix[row_of[query]],
                matrix[row_of[cached]],
                rules.verify(query, cached).allowed,
            )
            for query, cached in ((pair.b.strip(), pair.a.strip()) for pair in pairs)
        ]
    )
    labels = np.asarray([pair.label for pair in pairs], dtype=np.float32)
    return features, labels


def train_verifier(
    pairs: Sequence[Pair],
    embedder: Embedder,
    out_dir: Path,
    *,
    training_file: str,
    rounds: int = 600,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ModelCard:
    import lightgbm

    features, labels = training_matrix(pairs, embedder, progress)
    log.info("verifier_training", pairs=len(pairs), features=features.shape[1], rounds=rounds)
    booster = lightgbm.train(PARAMS | {"seed": seed}, lightgbm.Dataset(features, labels), num_boost_round=rounds)
    return write_model(
        out_dir,
        booster.model_to_string(),
        {
            "feature_layout": FEATURE_LAYOUT,
            "embedder_model": embedder.model_name,
            "dimension": embedder.dimension,
            "training_file": training_file,
            "training_pairs": len(pairs),
            "positives": int(labels.sum()),
            "boosting_rounds": rounds,
            "seed": seed,
        },
    )
