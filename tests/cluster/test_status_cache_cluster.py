"""The status cache on Redis Cluster: one invalidation connection per master, a revocation read at once.

`crane-verify serve --demo --workers 3` on the session's cluster (3 masters, a replica each), the cache's
bound a minute long, CLIENTS threads verifying one valid demo QR; the certificate is revoked through a store
of this process. Every answer asked half a second later says revoked: the invalidation came from the master
that serves the certificate's slot, to each worker's connection to that master.
"""

from __future__ import annotations

from pathlib import Path

from devtools.cluster import LocalCluster
from tests.reliability.live import LiveService, assert_turned_at_once, revoke_under_load, tracking_connections

WORKERS = 3


def test_a_revocation_reaches_every_worker_at_once_on_the_cluster(local_cluster: LocalCluster,
                                                                  demo_data_dir: Path) -> None:
    service = LiveService(demo_data_dir, args=("--demo", "--workers", str(WORKERS)),
                          env={"REDIS_URL": local_cluster.url, "CRANE_STATUS_CACHE_S": "60"})
    with service:
        service.wait_for_workers(WORKERS)
        revoked_at, answers = revoke_under_load(service, local_cluster.url, watch_s=2.0)
        for master in local_cluster.primaries():   # the cache was on: each worker has a connection to each master
            with local_cluster.node_client(master) as client:
                assert len(tracking_connections(client)) >= WORKERS, (master.port, client.client_list())
    assert_turned_at_once(revoked_at, answers, WORKERS)
