"""gunicorn settings for the service; `crane-verify serve` passes this file with -c."""

import os

from prometheus_client import multiprocess

workers = int(os.environ.get("CRANE_WORKERS", "2"))
worker_class = "sync"
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
