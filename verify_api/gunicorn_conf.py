"""gunicorn settings for the service; `crane-verify serve` passes this file with -c."""

import os

from gunicorn.workers.sync import SyncWorker
from prometheus_client import multiprocess

# A sync worker serves one connection at a time and, as gunicorn ships, waits for a client's request
# without limit: a handful of connections that send half a request hold every worker until the
# master kills them (timeout, 30 s), and then the next ones do the same. Each read of a request gets
# this long instead; a slow client costs a worker seconds, not the service. (In production a buffering
# reverse proxy in front is still the real answer to slow clients: docs/security.md.)
READ_TIMEOUT_S = float(os.environ.get("CRANE_READ_TIMEOUT", "5"))


class ReadTimeoutSyncWorker(SyncWorker):
    def accept(self, listener):
        client, addr = listener.accept()
        client.settimeout(READ_TIMEOUT_S)
        self.handle(listener, client, addr)


workers = int(os.environ.get("CRANE_WORKERS", "2"))
worker_class = ReadTimeoutSyncWorker
timeout = 30
graceful_timeout = 10
keepalive = 5
# Header limits well below gunicorn's defaults: nothing legitimate sends more.
limit_request_line = 8190
limit_request_fields = 60
limit_request_field_size = 8190
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "crane-verify"


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
