"""KV-cache memory of a self-hosted transformer: 2 (K and V) x layers x kv_heads x head_dim x seq_len x batch x bytes.

Grouped-query attention stores keys and values for the KV heads only, not the query heads: Llama-3-8B has 32 query
heads but 8 KV heads, a quarter of the memory a multi-head count would give.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

BYTES_PER_DTYPE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}


class ModelShape(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    layers: Annotated[int, Field(gt=0)]
    attention_heads: Annotated[int, Field(gt=0)]
    kv_heads: Annotated[int, Field(gt=0)] | None = None  # None: multi-head attention (kv heads = query heads)
    hidden_size: Annotated[int, Field(gt=0)]
    head_dim: Annotated[int, Field(gt=0)] | None = None  # None: hidden_size / attention_heads

    @property
    def effective_kv_heads(self) -> int:
        return self.kv_heads or self.attention_heads

    @property
    def effective_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.attention_heads


PRESETS: dict[str, ModelShape] = {
    "llama-3-8b": ModelShape(layers=32, attention_heads=32, kv_heads=8, hidden_size=4096),
    "llama-3-70b": ModelShape(layers=80, attention_heads=64, kv_heads=8, hidden_size=8192),
    "mistral-7b": ModelShape(layers=32, attention_heads=32, kv_heads=8, hidden_size=4096),
    "qwen2.5-7b": ModelShape(layers=28, attention_heads=28, kv_heads=4, hidden_size=3584),
    "llama-2-7b": ModelShape(layers=32, attention_heads=32, hidden_size=4096),
}


def kv_cache_bytes(shape: ModelShape, seq_len: int, batch: int = 1, dtype: str = "fp16") -> int:
    if seq_len <= 0 or batch <= 0:
        raise ValueError("seq_len and batch must be positive")
    try:
        per_value = BYTES_PER_DTYPE[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {', '.join(BYTES_PER_DTYPE)}") from None
    return int(2 * shape.layers * shape.effective_kv_heads * shape.effective_head_dim * seq_len * batch * per_value)


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.2f} {unit}"
        count /= 1024
    return f"{count:.2f} TiB"
