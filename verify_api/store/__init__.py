"""The registry on Redis: certificates, their status history, the status feed, the audit log, tokens.

One module per job, all over one transport:
- transport.py: connections (single node or Redis Cluster) and the acknowledged write path (one pipeline
  per master, WAIT for the replicas);
- registry.py: registrations read, registered, changed, corrected, imported in bulk; scripts.py holds
  their Lua scripts and transition rules;
- publishing.py: the status feed, the audit log of changes (the operator's stream and one per issuer) and
  the refused attempts' log, trimmed by the retention;
- tokens.py: issuer API tokens (their text format is verify_api/issuer_token.py);
- results.py: the typed results and StoreUnavailable.
Every key comes from verify_api/keyspace.py.
"""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from .publishing import Publishing
from .registry import Registry, payload_of
from .results import AuditEntry, Change, FeedEntry, Outcome, Refusal, StoredVersion, StoreUnavailable
from .tokens import Tokens
from .transport import Transport, cluster_nodes, is_cluster_url

__all__ = ["AuditEntry", "Change", "FeedEntry", "Outcome", "Refusal", "Store", "StoreUnavailable", "StoredVersion",
           "cluster_nodes", "is_cluster_url", "payload_of"]


class Store(Registry, Publishing, Tokens):
    """The registry's storage, behind a small interface with a health check.

    `url` is `redis://`, `unix://` or `redis+cluster://h1:p1,h2:p2`. With `replicas=N` (the service's
    CRANE_REDIS_REPLICAS) a write is acknowledged only once N replicas of its master have it; `wait_ms` is
    how long to wait for them (default: half the socket timeout, so the wait ends before the socket's).
    With `status_bound_s` a scan's status is kept per process while Redis tracks it, never longer than that
    (the service's CRANE_STATUS_CACHE_S).
    """

    def __init__(self, url: str, timeout: float = 1.0, replicas: int = 0, wait_ms: int | None = None,
                 status_bound_s: float = 0.0):
        super().__init__(Transport(url, timeout, replicas, wait_ms))
        if status_bound_s > 0:   # the service's scans; see status_cache.py
            self.track_status(status_bound_s)

    @property
    def url(self) -> str:
        return self.transport.url

    @property
    def client(self) -> redis.Redis | RedisCluster:
        return self.transport.client

    def ping(self) -> bool:
        return self.transport.ping()
