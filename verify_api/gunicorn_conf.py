"""gunicorn settings for the service; `crane-verify serve` passes this file with -c."""

import os

from prometheus_client import multiprocess

from verify_api.http_worker import GatheringThreadWorker

# Threads run whole requests only: each worker's event loop reads requests in and holds idle kept-alive
# connections, closing any that send slower than a minimum rate (verify_api/http_worker.py). In production
# nginx in front buffers requests as well (docs/deployment.md).
workers = int(os.environ.get("CRANE_WORKERS", "2"))
worker_class = GatheringThreadWorker
threads = int(os.environ.get("CRANE_THREADS", "4"))
worker_connections = 1000
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

# HTTPS for trials on a phone (`crane-verify serve --tls-cert F --tls-key F`). The gathering worker reads raw
# bytes before gunicorn wraps the socket, so TLS runs on gunicorn's own threaded worker, which wraps first;
# in production TLS ends at nginx in front (docs/deployment.md) and the gathering worker stays.
certfile = os.environ.get("CRANE_TLS_CERT") or None
keyfile = os.environ.get("CRANE_TLS_KEY") or None
if certfile:
    worker_class = "gthread"  # type: ignore[assignment,misc]  # gunicorn takes a class or its name


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
