"""llmcache: an asynchronous, distributed LLM cache in front of OpenAI and Anthropic.

The public API is re-exported here; everything else lives under `llmcache.shared` (the core),
`llmcache.workers` (Celery, the CLI), `llmcache.scheduler`, `llmcache.testing` and `llmcache.quality`.
Imports are lazy: `import llmcache` loads no model, builds no client and imports no heavy dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcache.shared.cache import LLMCache
    from llmcache.shared.config import load_settings
    from llmcache.shared.models import CacheRequest
    from llmcache.shared.runtime import build_runtime

__all__ = ["CacheRequest", "LLMCache", "build_runtime", "load_settings"]

_EXPORTS = {
    "CacheRequest": "llmcache.shared.models",
    "LLMCache": "llmcache.shared.cache",
    "build_runtime": "llmcache.shared.runtime",
    "load_settings": "llmcache.shared.config",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
