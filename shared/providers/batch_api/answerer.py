"""The providers' Batch APIs as a `MissAnswerer` (shared/answering/base.py): the second way of answering misses.

`answer(misses)` sends the misses that no recorded job holds yet as provider batch jobs (one per provider, and per
model for OpenAI, split to the providers' limits), records each job in a `JobLedger` as soon as it is created,
then waits for every recorded job not collected yet (tenacity backoff), and yields one outcome per miss:
`Answered` (priced at the batch price) or `Failed` (its `retryable` says whether re-submitting can help). Jobs a
stopped run recorded are waited for, not submitted again: that is what makes a run resumable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

import structlog

from llmcache.shared.answering.base import Answered, Failed, MissOutcome, MissRequest
from llmcache.shared.jobs import JobError
from llmcache.shared.models import ProviderName
from llmcache.shared.providers.batch_api.base import (
    BatchAPIClient,
    BatchItem,
    JobProgress,
    PollPolicy,
    SubmittedJob,
    split,
    wait_until_ended,
)

log = structlog.get_logger("llmcache.providers.batch_api")


def custom_id_for(key: str) -> str:
    """A provider-safe custom_id for a miss key (Anthropic: 1-64 of [a-zA-Z0-9_-])."""
    return "k" + hashlib.sha256(key.encode()).hexdigest()[:63]


class JobLedger(Protocol):
    """Where submitted jobs are recorded, so that a restarted run finds them."""

    def pending(self) -> list[SubmittedJob]:
        """Jobs submitted and not collected yet, in submission order."""
        ...

    def record(self, job: SubmittedJob) -> None: ...

    def collected(self, job: SubmittedJob) -> None: ...


class BatchAPIAnswerer:
    def __init__(
        self,
        clients: Mapping[ProviderName, BatchAPIClient],
        ledger: JobLedger,
        *,
        poll: PollPolicy | None = None,
        on_progress: Callable[[JobProgress], None] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._clients = clients
        self._ledger = ledger
        self._poll = poll or PollPolicy()
        self._on_progress = on_progress
        self._metadata = metadata
        self.submitted: list[SubmittedJob] = []  # by this answerer (the others were picked up)
        self.resumed: list[SubmittedJob] = []

    @property
    def name(self) -> str:
        return "batch-api"

    def submit(self, misses: Sequence[MissRequest]) -> None:
        """Send the misses no pending job holds yet; record each job before anything waits on it."""
        pending = self._ledger.pending()
        self.resumed = list(pending)
        held = {cid for job in pending for cid in job.custom_ids}
        by_provider: dict[ProviderName, list[BatchItem]] = {}
        for miss in misses:
            custom_id = custom_id_for(miss.key)
            if custom_id not in held:
                item = BatchItem(custom_id=custom_id, request=miss.request, prompt_cache_ttl=miss.prompt_cache_ttl)
                by_provider.setdefault(miss.request.provider, []).append(item)
                held.add(custom_id)
        for provider, items in by_provider.items():
            client = self._clients[provider]
            for group in split(client, items):
                job = client.submit(group, metadata=self._metadata)
                self._ledger.record(job)
                self.submitted.append(job)

    def answer(self, misses: Sequence[MissRequest]) -> Iterator[MissOutcome]:
        wanted = {custom_id_for(m.key): m for m in misses}
        self.submit(misses)
        answered: set[str] = set()
        for job in self._ledger.pending():
            client = self._clients[job.provider]
            wait_until_ended(client, job.batch_id, self._poll, self._on_progress)
            for result in client.results(job):
                miss = wanted.get(result.custom_id)
                if miss is None or result.custom_id in answered:
                    continue  # a request of a recorded job this run no longer needs
                answered.add(result.custom_id)
                if result.completion is not None:
                    yield Answered(key=miss.key, completion=result.completion)
                else:
                    error = result.error or JobError(type="BatchResultMissing", message="no result", retryable=True)
                    yield Failed(key=miss.key, error=error)
            self._ledger.collected(job)
        for custom_id, miss in wanted.items():
            if custom_id not in answered:  # cannot happen unless a ledger lost a job: say so, retryably
                message = "no provider batch job holds this request (was the ledger edited?)"
                yield Failed(key=miss.key, error=JobError(type="BatchResultMissing", message=message, retryable=True))
