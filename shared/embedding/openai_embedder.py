"""OpenAI embeddings through the official SDK: the hosted alternative to the local MiniLM."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from openai import OpenAI

from llmcache.shared.embedding.base import Vectors, l2_normalise

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    def __init__(self, client: OpenAI, model: str = "text-embedding-3-small", dimensions: int | None = None) -> None:
        if dimensions is None and model not in KNOWN_DIMENSIONS:
            raise ValueError(f"embedding.openai_dimensions is required for unknown model {model!r}")
        self._client = client
        self._model = model
        self._requested_dimensions = dimensions
        self._dimension = dimensions or KNOWN_DIMENSIONS[model]

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return self._model

    def embed(self, text: str) -> Vectors:
        vector: Vectors = self.embed_batch([text])[0]
        return vector

    def embed_batch(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        extra = {"dimensions": self._requested_dimensions} if self._requested_dimensions else {}
        response = self._client.embeddings.create(model=self._model, input=list(texts), **extra)  # type: ignore[arg-type]
        ordered = sorted(response.data, key=lambda item: item.index)
        return l2_normalise(np.asarray([item.embedding for item in ordered], dtype=np.float32))
