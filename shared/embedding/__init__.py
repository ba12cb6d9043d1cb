"""Embedders: the local MiniLM (default) and OpenAI's hosted embeddings."""

from llmcache.shared.embedding.base import Embedder, Vectors, l2_normalise

__all__ = ["Embedder", "Vectors", "l2_normalise"]
