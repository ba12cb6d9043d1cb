"""Cost from exact usage and a pricing table that is data (`shared/data/pricing.json`), not code."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from llmcache.shared.errors import ConfigurationError
from llmcache.shared.models import ProviderName, Usage

PER_TOKEN = 1_000_000


class ModelPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName
    input: Annotated[float, Field(ge=0)]
    cached_input: Annotated[float, Field(ge=0)]
    cache_write_5m: Annotated[float, Field(ge=0)]
    cache_write_1h: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    batch_discount: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_cacheable_tokens: Annotated[int, Field(ge=0)] = 1024


class BatchTerms(BaseModel):
    """A provider's Batch API terms: whether prompt-cache prices apply inside a batch (the discount itself is each
    model's `batch_discount`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_cache_discounts_apply: bool = True
    completion_window: str = "24h"
    note: str = ""


class Cost(BaseModel):
    model_config = ConfigDict(frozen=True)

    usd: float
    usd_without_prompt_cache: float

    @property
    def prompt_cache_saving_usd(self) -> float:
        return self.usd_without_prompt_cache - self.usd


class PricingTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    as_of: str
    models: dict[str, ModelPrice]
    batch: dict[ProviderName, BatchTerms] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> PricingTable:
        raw = path.read_text() if path else resources.files("llmcache.shared").joinpath("data/pricing.json").read_text()
        return cls.model_validate(json.loads(raw))

    def price(self, model: str) -> ModelPrice:
        """Exact name, else the longest table name that prefixes it (`claude-sonnet-4-5-20250929`)."""
        if model in self.models:
            return self.models[model]
        matches = [name for name in self.models if model.startswith(name)]
        if not matches:
            raise ConfigurationError(f"model {model!r} is not in the pricing table (as of {self.as_of})")
        return self.models[max(matches, key=len)]

    def batch_terms(self, provider: ProviderName) -> BatchTerms:
        return self.batch.get(provider) or BatchTerms()

    def cost(self, model: str, usage: Usage, batch: bool = False) -> Cost:
        """What `usage` costs, synchronously or (`batch`) inside a provider Batch API job: the model's
        `batch_discount` on everything, with cache reads and writes at their own prices where the provider's batch
        terms say prompt-cache prices apply inside a batch, else as plain input."""
        price = self.price(model)
        discount = price.batch_discount if batch else 1.0
        cached = not batch or self.batch_terms(price.provider).prompt_cache_discounts_apply
        paid = (
            usage.input_tokens * price.input
            + usage.cache_read_tokens * (price.cached_input if cached else price.input)
            + usage.cache_write_5m_tokens * (price.cache_write_5m if cached else price.input)
            + usage.cache_write_1h_tokens * (price.cache_write_1h if cached else price.input)
            + usage.output_tokens * price.output
        )
        all_input = (
            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
        )
        uncached = all_input * price.input + usage.output_tokens * price.output
        return Cost(usd=paid * discount / PER_TOKEN, usd_without_prompt_cache=uncached * discount / PER_TOKEN)
