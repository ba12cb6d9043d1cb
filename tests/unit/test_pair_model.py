"""The shipped pair model: its card pins the weights, onnxruntime serves it batched or alone with the same scores,
and it reads both texts together (a swapped slot in the same frame is not a rewording)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from llmcache.shared.guard.pair_model import (
    CARD_FILE,
    DATA_DIR,
    WEIGHTS_FILE,
    PairModel,
    PairModelCard,
    PairModelError,
    base_weights,
    layout_for,
    loaded_pair_model,
    read_pair_model,
    write_pair_model,
)

PAIRS = [  # written for this test: (query, cached)
    ("How can I switch off webhooks in the mobile app?", "How do I turn off webhooks on the mobile app?"),
    ("How do I turn off webhooks via the API?", "How do I turn off webhooks on the mobile app?"),
    ("How do I set up webhooks on the mobile app?", "How do I turn off webhooks on the mobile app?"),
    ("What famous landmark can you find in Paris?", "What is the capital of France?"),
    ("what's the way to reset my password", "How do I reset my password?"),
]


def test_batched_and_single_scores_agree() -> None:
    model = loaded_pair_model()
    batched = model.score_many(PAIRS)
    single = np.asarray([model.score(q, c) for q, c in PAIRS])
    assert batched.shape == (len(PAIRS),) and ((batched >= 0) & (batched <= 1)).all()
    np.testing.assert_allclose(batched, single, atol=1e-4)
    assert model.score_many([]).shape == (0,)


def test_int8_scores_do_not_depend_on_the_batch_and_stay_near_float32() -> None:
    # int8 quantises each token's activations on its own, so the padding and the other pairs of a batch never move
    # a pair's score (onnxruntime's dynamic quantisation, one scale per tensor, did)
    model = loaded_pair_model(int8=True)
    assert model is not loaded_pair_model()
    scores = model.score_many(PAIRS)
    assert scores.shape == (len(PAIRS),) and ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores[:2], model.score_many(PAIRS[:2]), atol=1e-6)
    np.testing.assert_allclose(scores, [model.score(q, c) for q, c in PAIRS], atol=1e-6)
    full = loaded_pair_model().score_many(PAIRS)

    def logit(p: np.ndarray) -> np.ndarray:
        return np.asarray(np.log(p) - np.log1p(-p))

    assert np.abs(logit(scores) - logit(full)).max() < 1.5
    assert (np.argsort(scores) == np.argsort(full)).all()


def test_it_reads_both_texts_together() -> None:
    scores = loaded_pair_model().score_many(PAIRS)
    rewording, other_scope, other_action, follow_up, casual = scores
    assert rewording > other_scope and rewording > other_action and rewording > follow_up
    assert casual > other_scope


def test_a_damaged_or_missing_model_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(DATA_DIR, copy)
    raw = bytearray((copy / WEIGHTS_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(PairModelError, match="checksum"):
        PairModel(copy).warm()
    (copy / CARD_FILE).unlink()
    with pytest.raises(PairModelError, match="no pair model"):
        PairModel(copy).warm()


def test_the_card_says_how_many_top_layers_ship_and_the_weights_must_agree(tmp_path: Path) -> None:
    card, delta = read_pair_model(DATA_DIR)
    fields = card.model_dump(exclude={"layout", "base_model", "weights_sha256"})
    shipped = len({name.split(".")[2] for name in delta if name.startswith("encoder.layer.")})
    assert card.layout == layout_for(shipped)
    # one layer more: the base model's next layer down, unchanged, so the scores stay the same
    below = f"encoder.layer.{5 - shipped}."
    extra = {name: value for name, value in base_weights().items() if name.startswith(below)}
    more = write_pair_model(tmp_path / "more", delta | extra, fields, trained_layers=shipped + 1)
    assert more.layout == layout_for(shipped + 1) == f"minilm-l6-cross-top{shipped + 1}-meanpool-v1"
    np.testing.assert_allclose(
        PairModel(tmp_path / "more").score_many(PAIRS), loaded_pair_model().score_many(PAIRS), atol=2e-3
    )  # within float16 storage of the added layer
    write_pair_model(tmp_path / "mislabelled", delta, fields, trained_layers=shipped + 1)  # fewer layers than it says
    with pytest.raises(PairModelError, match="layout"):
        PairModel(tmp_path / "mislabelled").warm()
    with pytest.raises(ValueError, match="1-6"):
        layout_for(7)


def test_the_card_records_the_layer_decay_and_older_cards_read_as_no_decay(tmp_path: Path) -> None:
    card, delta = read_pair_model(DATA_DIR)
    older = card.model_dump(exclude={"layer_decay"})  # a card written before the option
    assert PairModelCard.model_validate(older).layer_decay == 1.0  # every layer at one learning rate
    fields = card.model_dump(exclude={"layout", "base_model", "weights_sha256"}) | {"layer_decay": 0.8}
    trained = len({name.split(".")[2] for name in delta if name.startswith("encoder.layer.")})
    written = write_pair_model(tmp_path / "decayed", delta, fields, trained_layers=trained)
    assert written.layer_decay == 0.8
    assert read_pair_model(tmp_path / "decayed")[0] == written
