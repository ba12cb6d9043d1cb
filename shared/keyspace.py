"""Every Redis key llmcache writes, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keyspace:
    prefix: str = "llmcache"

    def entry(self, entry_id: str) -> str:
        return f"{self.prefix}:entry:{entry_id}"

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
