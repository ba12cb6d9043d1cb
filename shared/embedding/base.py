"""The embedder contract: text in, unit-length float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of `dimension` floats (cosine == dot product)."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, text: str) -> Vectors:
        """One text -> shape (dimension,)."""
        ...

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        """Many texts -> shape (len(texts), dimension); batching is much cheaper per text."""
        ...


def l2_normalise(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return normalised
