"""The guard after the nearest-neighbour search: a candidate is served only when its cosine clears the namespace
floor and no specific conflicts (number, negation, time/action contrast, scope, named entity, follow-up)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.guard.specifics import Specifics, conflicts, extract


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reasons: tuple[str, ...]


@lru_cache(maxsize=65_536)
def _specifics(text: str) -> Specifics:
    return extract(text)


class SpecificsGuard:
    """Stateless and thread-safe; extraction of a text's specifics is memoised."""

    def verify(self, query_text: str, cached_text: str) -> Verdict:
        if query_text == cached_text:
            return Verdict(True, ())
        reasons = conflicts(_specifics(query_text), _specifics(cached_text))
        return Verdict(not reasons, tuple(reasons))
