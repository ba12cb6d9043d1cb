"""Every Redis key llmcache writes, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keyspace:
    prefix: str = "llmcache"

    def entry(self, entry_id: str) -> str:
        return f"{self.prefix}:entry:{entry_id}"

    def entry_aliases(self, entry_id: str) -> str:
        """SET of the alias entries written from this entry (purging it by id purges them), expiring with them."""
        return f"{self.prefix}:entry-aliases:{entry_id}"

    def namespace_index(self, namespace: str) -> str:
        """ZSET entry_id -> expires_at (epoch seconds); used by sweeps and purges."""
        return f"{self.prefix}:ns-entries:{namespace}"

    def namespaces(self) -> str:
        """SET of namespaces that ever stored an entry."""
        return f"{self.prefix}:namespaces"

    def current_version(self, namespace: str) -> str:
        return f"{self.prefix}:version:{namespace}"

    def rate_bucket(self, provider: str, model: str, kind: str) -> str:
        """GCRA theoretical arrival time (ms) of one rate-limit bucket."""
        return f"{self.prefix}:rate:{provider}:{model}:{kind}"

    def inflight(self, request_key: str) -> str:
        """The single-flight lock of a request being answered (owner token, PX expiry)."""
        return f"{self.prefix}:inflight:{request_key}"

    def inflight_context(self, context_fp: str) -> str:
        """HASH request key -> embedding of the requests in flight under one context fingerprint."""
        return f"{self.prefix}:inflight-ctx:{context_fp}"

    def inflight_context_mutex(self, context_fp: str) -> str:
        return f"{self.prefix}:inflight-ctx-mutex:{context_fp}"

    def metrics_minute(self, minute: int) -> str:
        """HASH "<namespace>|<model>|<counter>" -> value, for one minute (epoch minute)."""
        return f"{self.prefix}:metrics:raw:{minute}"

    def metrics_latency(self, minute: int, group: str, kind: str) -> str:
        """LIST of latencies (ms) of one minute, one namespace|model group, kind hit or miss."""
        return f"{self.prefix}:metrics:lat:{minute}:{group}:{kind}"

    def metrics_rolled(self) -> str:
        """ZSET member "<minute>" scored by minute: closed minutes already rolled up (rows in metrics_series)."""
        return f"{self.prefix}:metrics:rolled-minute"

    def metrics_series(self, group: str) -> str:
        """ZSET of per-minute roll-ups (json) of one namespace|model group, scored by minute."""
        return f"{self.prefix}:metrics:series:{group}"

    def metrics_groups(self) -> str:
        return f"{self.prefix}:metrics:groups"

    def metrics_counters(self) -> str:
        """HASH "<namespace>|<model>|<counter>" -> running total since the first job (what Prometheus scrapes)."""
        return f"{self.prefix}:metrics:counters"

    def metrics_histogram(self) -> str:
        """HASH "<namespace>|<model>|<outcome>|<bucket index, sum or count>" -> latency histogram (not cumulative)."""
        return f"{self.prefix}:metrics:histogram"

    def metrics_guard(self) -> str:
        """HASH "<namespace>|<reason>" -> guard refusals since the first job."""
        return f"{self.prefix}:metrics:guard"

    def metrics_alerts(self) -> str:
        """HASH namespace -> json of the hit-rate alert now raised for it."""
        return f"{self.prefix}:metrics:alerts"

    def celery_queue(self, queue: str) -> str:
        """The Redis list of a Celery queue at priority 0 (others: "<list>:<priority>"), as kombu names it."""
        return f"{self.prefix}:celery:{queue}"

    def beat_lock(self) -> str:
        return f"{self.prefix}:beat:lock"

    def beat_published(self) -> str:
        """HASH beat instance -> tasks it published (which beat really scheduled)."""
        return f"{self.prefix}:beat:published"
