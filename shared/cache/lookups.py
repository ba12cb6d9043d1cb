"""Lookups: the exact key first, then the nearest live same-context question, judged by the false-hit guard.

A candidate whose Redis body is gone is a miss and its point is removed on the spot. A semantic hit writes an alias
entry under the request's own key (see `alias_entry`): the same request is an exact hit from then on, however the
nearest stored question changes; an alias write that fails costs the lookup nothing but a warning and a metric.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import structlog

from llmcache.shared.cache.context import CacheContext, Prepared
from llmcache.shared.embedding.base import Vectors
from llmcache.shared.index.base import Candidate
from llmcache.shared.models import Alias, CacheEntry, CacheRequest, ExactHit, LookupResult, Miss, SemanticHit

log = structlog.get_logger("llmcache.cache")


@dataclass(frozen=True)
class Neighbours:
    query_vector: Vectors | None
    found: list[tuple[CacheEntry, Candidate]]


class Lookups:
    def __init__(self, context: CacheContext) -> None:
        self._context = context

    def miss_for(self, request: CacheRequest) -> Miss:
        """The keys of a request without looking anything up (for jobs that skip the cache)."""
        return _miss(self._context.prepare(request), "cache-skipped")

    def lookup(
        self,
        request: CacheRequest,
        *,
        threshold: float | None = None,
        embedding: Vectors | None = None,
        alias: bool = True,
    ) -> LookupResult:
        """`embedding` (of the last user message, from an earlier Miss) saves embedding it again; `alias=False`
        writes no alias entry for a semantic hit (evaluations that look the same request up again)."""
        context = self._context
        prepared = context.prepare(request)
        if prepared.policy.never_store:
            return _miss(prepared, "namespace-never-stores")
        now = context.clock()
        exact = self._exact(prepared, now)
        if exact is not None:
            return exact
        if not prepared.semantic_allowed:
            return _miss(prepared, "no-exact-match")
        assert prepared.text is not None
        vector = embedding if embedding is not None else context.embedder.embed(prepared.text)
        candidates = context.index.search(
            vector,
            prepared.selector(now),
            prepared.policy.similarity_threshold if threshold is None else threshold,
            prepared.policy.semantic_candidates,
        )
        hit = self._first_live(prepared, candidates, now, vector)
        if hit is None:
            return _miss(prepared, "no-semantic-match", vector)
        if alias:
            self._write_aliases([alias_entry(prepared, hit, now, threshold)])
        return hit

    def lookup_many(
        self,
        requests: Sequence[CacheRequest],
        *,
        threshold: float | None = None,
        embeddings: Sequence[Vectors | None] | None = None,
        stages: dict[str, float] | None = None,
        alias: bool = True,
    ) -> list[LookupResult]:
        """Like `lookup` for each request, batched: one MGET for every exact lookup, one embedding of each distinct
        text (an `embeddings` row from an earlier Miss saves it), one batched vector search of each distinct text
        and context, one MGET of the candidates' bodies, then the guard, then one round trip for the semantic hits'
        alias entries. `stages`, when given, adds up the seconds spent in each stage: exact, embed, search, guard,
        alias."""
        context = self._context
        mark = time.perf_counter()
        now = context.clock()
        prepared = context.prepare_many(requests)
        results: list[LookupResult | None] = [None] * len(requests)
        eligible = [i for i, item in enumerate(prepared) if not item.policy.never_store]
        for i, item in enumerate(prepared):
            if item.policy.never_store:
                results[i] = _miss(item, "namespace-never-stores")
        pending = self._exact_many(prepared, eligible, now, results)
        mark = _lap(stages, "exact", mark)
        if pending:
            vectors = self._vectors_for(prepared, pending, embeddings)
            mark = _lap(stages, "embed", mark)
            # identical questions in one context are searched (and guarded) once
            groups: dict[tuple[str, str, float], list[int]] = {}
            for i in pending:
                limit = prepared[i].policy.similarity_threshold if threshold is None else threshold
                groups.setdefault((prepared[i].text or "", prepared[i].keys.context_fp or "", limit), []).append(i)
            found: dict[tuple[str, str, float], list[Candidate]] = {}
            for limit in {group[2] for group in groups}:
                same = [group for group in groups if group[2] == limit]
                firsts = [groups[group][0] for group in same]
                searched = context.index.search_batch(
                    np.stack([vectors[i] for i in firsts]),
                    [prepared[i].selector(now) for i in firsts],
                    limit,
                    max(prepared[i].policy.semantic_candidates for i in firsts),
                )
                found.update(zip(same, searched, strict=True))
            mark = _lap(stages, "search", mark)
            ids = list(dict.fromkeys(c.entry_id for candidates in found.values() for c in candidates))
            candidate_bodies = dict(zip(ids, context.store.get_many(ids), strict=True))
            self.prefetch_guard([(prepared[members[0]], found[group]) for group, members in groups.items()],
                                candidate_bodies)  # fmt: skip
            for group, members in groups.items():
                first = members[0]
                live = self._first_live(prepared[first], found[group], now, vectors[first], bodies=candidate_bodies)
                for i in members:
                    if isinstance(live, SemanticHit) and live.entry.request_key == prepared[i].keys.request_key:
                        results[i] = ExactHit(entry=live.entry)  # stored between the MGET and the search
                        continue
                    results[i] = live or _miss(prepared[i], "no-semantic-match", vectors[i])
            mark = _lap(stages, "guard", mark)
            self._write_aliases(_aliases([(prepared[i], results[i]) for i in pending], now, threshold) if alias else [])
            _lap(stages, "alias", mark)
        return [r for r in results if r is not None]

    def _exact_many(
        self, prepared: Sequence[Prepared], eligible: Sequence[int], now: datetime, results: list[LookupResult | None]
    ) -> list[int]:
        """One MGET for every eligible request's own key: fills `results` with the exact hits and the misses that
        may not go semantic; returns the indexes that go on to the semantic stage."""
        keys = list(dict.fromkeys(prepared[i].keys.request_key for i in eligible))
        bodies = dict(zip(keys, self._context.store.get_many(keys), strict=True))
        pending: list[int] = []
        stale_aliases: dict[str, CacheEntry] = {}
        for i in eligible:
            entry = _servable_exact(prepared[i], bodies[prepared[i].keys.request_key], now, stale_aliases)
            if entry is not None:
                results[i] = ExactHit(entry=entry)
            elif not prepared[i].semantic_allowed:
                results[i] = _miss(prepared[i], "no-exact-match")
            else:
                pending.append(i)
        self._drop_stale_aliases(stale_aliases.values())
        return pending

    def prefetch_guard(
        self, searched: Sequence[tuple[Prepared, Sequence[Candidate]]], bodies: Mapping[str, CacheEntry | None]
    ) -> None:
        """Scores each group's nearest stored question with the guard's pair model in one batched run (the
        decisions that follow, one per group, reuse the scores)."""
        guard = self._context.guard
        if guard.pair_model is None:
            return
        pairs = []
        for prepared, candidates in searched:
            if not (prepared.policy.guard and prepared.policy.pair_model) or prepared.text is None:
                continue
            entry = next((bodies.get(c.entry_id) for c in candidates if bodies.get(c.entry_id) is not None), None)
            if entry is not None and entry.prompt_text is not None:
                pairs.append((prepared.text, entry.prompt_text))
        if len(pairs) > 1:
            guard.prefetch(pairs)

    def candidates_many(self, requests: Sequence[CacheRequest], floor: float, limit: int) -> list[Neighbours]:
        """Live same-context neighbours above `floor`, best first, before the guard: for evaluation and tuning."""
        context = self._context
        now = context.clock()
        prepared = context.prepare_many(requests)
        usable = [i for i, p in enumerate(prepared) if p.semantic_allowed]
        out = [Neighbours(None, []) for _ in requests]
        if not usable:
            return out
        vectors = context.embedder.embed_batch([prepared[i].text or "" for i in usable])
        found = context.index.search_batch(vectors, [prepared[i].selector(now) for i in usable], floor, limit)
        for i, vector, candidates in zip(usable, vectors, found, strict=True):
            bodies = context.store.get_many([c.entry_id for c in candidates])
            out[i] = Neighbours(vector, [(e, c) for c, e in zip(candidates, bodies, strict=True) if e is not None])
        return out

    def _vectors_for(
        self, prepared: Sequence[Prepared], pending: Sequence[int], embeddings: Sequence[Vectors | None] | None
    ) -> dict[int, Vectors]:
        """Each pending request's vector: the one given, else one embedding per distinct text."""
        vectors: dict[int, Vectors] = {}
        texts: dict[str, list[int]] = {}
        for i in pending:
            given = embeddings[i] if embeddings is not None else None
            if given is not None and given.size:
                vectors[i] = given
            else:
                texts.setdefault(prepared[i].text or "", []).append(i)
        if texts:
            computed = self._context.embedder.embed_batch(list(texts))
            for row, members in enumerate(texts.values()):
                for i in members:
                    vectors[i] = computed[row]
        return vectors

    def _write_aliases(self, aliases: Sequence[tuple[CacheEntry, int] | None]) -> None:
        """One round trip; a failure is the lookup's warning and metric, never its error (the hit stands)."""
        entries = [a for a in aliases if a is not None]
        if not entries:
            return
        try:
            written = self._context.store.put_aliases(entries)
        except Exception as error:
            log.warning("alias_write_failed", aliases=len(entries), error=str(error))
            hook = self._context.on_alias_failure
            if hook is not None:
                try:
                    hook([entry for entry, _ in entries])
                except Exception as metric_error:
                    log.warning("alias_failure_metric_failed", error=str(metric_error))
            return
        log.debug("aliases_written", aliases=written, offered=len(entries))

    def _exact(self, prepared: Prepared, now: datetime) -> ExactHit | None:
        stale_aliases: dict[str, CacheEntry] = {}
        entry = _servable_exact(prepared, self._context.store.get(prepared.keys.request_key), now, stale_aliases)
        self._drop_stale_aliases(stale_aliases.values())
        return None if entry is None else ExactHit(entry=entry)

    def _drop_stale_aliases(self, aliases: Iterable[CacheEntry]) -> None:
        """Removes alias entries judged in another context (so that a new judgement may alias the key again);
        a failure is a warning, never the lookup's error (the alias is not served either way)."""
        doomed = [(alias.namespace, alias.entry_id) for alias in aliases]
        if not doomed:
            return
        try:
            self._context.store.delete(doomed)
        except Exception as error:
            log.warning("stale_alias_delete_failed", aliases=len(doomed), error=str(error))
            return
        log.debug("stale_aliases_dropped", aliases=len(doomed))

    def _first_live(
        self,
        prepared: Prepared,
        candidates: Sequence[Candidate],
        now: datetime,
        vector: Vectors,
        bodies: Mapping[str, CacheEntry | None] | None = None,
    ) -> SemanticHit | None:
        """The hit, if any.
        `bodies`: the candidates' entries, already read (`lookup_many` reads a whole chunk's at once)."""
        if not candidates:
            return None
        context = self._context
        if bodies is not None:
            entries = [bodies.get(c.entry_id) for c in candidates]
        else:
            entries = context.store.get_many([c.entry_id for c in candidates])
        stale: list[str] = []
        hit: SemanticHit | None = None
        for candidate, entry in zip(candidates, entries, strict=True):
            if entry is None or entry.is_expired(now):
                stale.append(candidate.entry_id)
                continue
            if not prepared.same_context(entry):
                # the payload filter already excludes this; the body is the source of truth, so check again
                log.warning("semantic_candidate_context_mismatch", entry_id=entry.entry_id)
                continue
            if prepared.policy.guard and prepared.text is not None and entry.prompt_text is not None:
                verdict = context.guard.verify(
                    prepared.text,
                    entry.prompt_text,
                    query_vector=vector,
                    cached_vector=candidate.vector,
                    thresholds=prepared.policy.verifier_thresholds(),
                )
                if not verdict.allowed:
                    # the nearest live question differs in a specific: a farther one would be a worse match still
                    log.debug(
                        "semantic_candidate_guarded",
                        entry_id=entry.entry_id,
                        reasons=verdict.reasons,
                        verifier_score=verdict.score,
                    )
                    break
            hit = SemanticHit(entry=entry, similarity=candidate.score)
            break
        if stale:
            context.index.delete_ids(stale)
            log.debug("semantic_index_repaired", removed_points=len(stale))  # a job logs one info line: job_done
        return hit


def _is_stale_alias(prepared: Prepared, entry: CacheEntry) -> bool:
    """An alias is a semantic judgement made in one context, whose fingerprint hashes the embedder's identity:
    under another embedder (another vector space) it is never served, although its request key (which does not
    hash the embedder) is the same."""
    return entry.alias is not None and entry.context_fp != prepared.keys.context_fp


def _servable_exact(
    prepared: Prepared, entry: CacheEntry | None, now: datetime, stale_aliases: dict[str, CacheEntry]
) -> CacheEntry | None:
    """The body under the request's own key when it may be served as an exact hit: live, and not an alias judged
    in another context (collected in `stale_aliases`, for the caller to delete)."""
    if entry is None:
        return None
    if _is_stale_alias(prepared, entry):
        stale_aliases[entry.entry_id] = entry
        return None
    return None if entry.is_expired(now) else entry


def _aliases(
    looked_up: Sequence[tuple[Prepared, LookupResult | None]], now: datetime, threshold: float | None
) -> list[tuple[CacheEntry, int] | None]:
    """One alias entry per request key served a semantic hit."""
    aliases: dict[str, tuple[CacheEntry, int] | None] = {}
    for prepared, hit in looked_up:
        if isinstance(hit, SemanticHit) and prepared.keys.request_key not in aliases:
            aliases[prepared.keys.request_key] = alias_entry(prepared, hit, now, threshold)
    return list(aliases.values())


def alias_entry(
    prepared: Prepared, hit: SemanticHit, now: datetime, threshold: float | None = None
) -> tuple[CacheEntry, int] | None:
    """The alias entry (and its TTL in seconds) that a semantic hit writes under the request's own key, or None:
    - when the namespace's policy turns aliases off (`alias_semantic_hits`);
    - when the lookup's floor was an override below the policy's (a looser judgement for one call only);
    - when the source expires within a second.
    The alias copies the source's answer and question text (`prompt_text`: what was served), takes the request's
    own context (the same as the source's: a semantic hit is only possible within one context fingerprint,
    namespace, version and scope) and the source's `created_at` (an `older_than` purge removes both), and
    expires no later than the source, nor than the policy's TTL from now."""
    policy = prepared.policy
    if not policy.alias_semantic_hits or (threshold is not None and threshold < policy.similarity_threshold):
        return None
    source, keys = hit.entry, prepared.keys
    if source.request_key == keys.request_key:
        return None
    ttl = int(min((source.expires_at - now).total_seconds(), float(policy.ttl_seconds)))  # whole seconds, down
    if ttl < 1:
        return None
    entry = CacheEntry(
        entry_id=keys.request_key,
        request_key=keys.request_key,
        context_fp=keys.context_fp or source.context_fp,
        namespace=source.namespace,
        version=keys.version,
        tenant=keys.tenant,
        user=keys.user,
        prompt_text=source.prompt_text,
        completion=source.completion,
        created_at=source.created_at,
        expires_at=now + timedelta(seconds=ttl),
        alias=Alias(source_id=source.alias_of or source.entry_id, similarity=hit.similarity, aliased_at=now),
    )
    return entry, ttl


def _miss(prepared: Prepared, reason: str, vector: Vectors | None = None) -> Miss:
    return Miss(
        reason=reason,
        request_key=prepared.keys.request_key,
        context_fp=prepared.keys.context_fp,
        version=prepared.keys.version,
        embedding=vector,
    )


def _lap(stages: dict[str, float] | None, stage: str, since: float) -> float:
    now = time.perf_counter()
    if stages is not None:
        stages[stage] = stages.get(stage, 0.0) + now - since
    return now
