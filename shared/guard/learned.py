"""The learned pair verifier: a LightGBM model over `llmcache.shared.guard.features`, trained on the Quora training
pairs by `llmcache train verifier` and shipped gzipped in `shared/guard/data` (1.9 MB), so no training happens at
install. Its score is the probability that an answer for the cached question serves the query."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from llmcache.shared.embedding.base import Vectors
from llmcache.shared.guard.features import FEATURE_LAYOUT, feature_count

DATA_DIR = Path(__file__).with_name("data")
MODEL_FILE = "pair_verifier.lgb.gz"
CARD_FILE = "pair_verifier.json"


class ModelCard(BaseModel):
    """What the shipped model was trained on, and the checksum that ties this card to the model file."""

    feature_layout: str
    embedder_model: str
    dimension: int
    training_file: str
    training_pairs: int
    positives: int
    boosting_rounds: int
    seed: int
    model_sha256: str


class VerifierModelError(RuntimeError):
    pass


class LearnedVerifier:
    """Loads the booster on first use (never at import); scoring is serialised, each call takes well under 1 ms."""

    def __init__(self, model_dir: Path = DATA_DIR) -> None:
        self._model_dir = model_dir
        self._booster: Any = None
        self._card: ModelCard | None = None
        self._lock = threading.Lock()

    def serves(self, embedder_model: str, dimension: int) -> bool:
        """Its features are only meaningful on vectors of the embedder it was trained with."""
        return self.card.embedder_model == embedder_model and self.card.dimension == dimension

    @property
    def card(self) -> ModelCard:
        self._load()
        assert self._card is not None
        return self._card

    def _load(self) -> None:
        if self._booster is not None:
            return
        with self._lock:
            if self._booster is not None:
                return
            import lightgbm

            model_path, card_path = self._model_dir / MODEL_FILE, self._model_dir / CARD_FILE
            if not model_path.is_file() or not card_path.is_file():
                raise VerifierModelError(f"no verifier model in {self._model_dir}: run `llmcache train verifier`")
            raw = model_path.read_bytes()
            card = ModelCard.model_validate_json(card_path.read_text())
            if hashlib.sha256(raw).hexdigest() != card.model_sha256:
                raise VerifierModelError(f"{model_path} does not match the checksum in {card_path}")
            if card.feature_layout != FEATURE_LAYOUT:
                raise VerifierModelError(f"{model_path} was trained on features {card.feature_layout!r}, "
                                         f"this code builds {FEATURE_LAYOUT!r}: retrain it")  # fmt: skip
            booster = lightgbm.Booster(model_str=gzip.decompress(raw).decode())
            if booster.num_feature() != feature_count(card.dimension):
                raise VerifierModelError(f"{model_path} expects {booster.num_feature()} features")
            self._card, self._booster = card, booster

    def score(self, features: Vectors) -> Vectors:
        """Probabilities for a (n, features) matrix."""
        self._load()
        rows = np.atleast_2d(np.asarray(features, dtype=np.float32))
        with self._lock:
            scores = self._booster.predict(rows, num_threads=1)
        return np.asarray(scores, dtype=np.float32)


def write_model(model_dir: Path, model_text: str, card_fields: dict[str, Any]) -> ModelCard:
    raw = gzip.compress(model_text.encode(), compresslevel=9, mtime=0)  # mtime 0: the same model, the same bytes
    card = ModelCard(model_sha256=hashlib.sha256(raw).hexdigest(), **card_fields)
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(raw)
    (model_dir / CARD_FILE).write_text(json.dumps(card.model_dump(), indent=2) + "\n")
    return card
