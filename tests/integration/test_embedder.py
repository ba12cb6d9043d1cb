"""The ONNX MiniLM must give the vectors sentence-transformers gives (reference saved by
bench/make_minilm_reference.py from the same packaged weights, with torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmcache.shared.embedding.base import Embedder

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REFERENCE.read_text())
    return loaded


def test_vectors_match_sentence_transformers(embedder: Embedder, reference: dict[str, Any]) -> None:
    expected = np.asarray(reference["vectors"], dtype=np.float32)
    batch = embedder.embed_batch(reference["texts"])
    assert batch.shape == (len(reference["texts"]), 384)
    np.testing.assert_allclose(batch, expected, atol=2e-5)
    for text, row in zip(reference["texts"], expected, strict=True):
        np.testing.assert_allclose(embedder.embed(text), row, atol=2e-5)


def test_vectors_are_unit_length_and_batch_order_is_kept(embedder: Embedder) -> None:
    texts = ["short", "a much longer sentence about invoices and refunds", "mid length text"]
    batch = embedder.embed_batch(texts)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for text, row in zip(texts, batch, strict=True):
        np.testing.assert_allclose(embedder.embed(text), row, atol=1e-5)
    assert embedder.embed_batch([]).shape == (0, 384)


def test_paraphrase_is_closer_than_an_unrelated_question(embedder: Embedder) -> None:
    a, b, c = embedder.embed_batch(
        ["How do I reset my password?", "I forgot my password, how can I change it?", "What is your refund policy?"]
    )
    assert float(a @ b) > float(a @ c) + 0.3
