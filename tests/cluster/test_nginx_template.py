"""The documented nginx configuration (devtools/cluster.py's NGINX_CONF) in front of a real service node."""

from __future__ import annotations

import http.client
from pathlib import Path

from devtools.cluster import LocalNginx
from tests.service import Service


def _status(host_port: str, path: str) -> int:
    host, port = host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_metrics_are_not_public_through_nginx(tmp_path: Path):
    with Service(tmp_path / "data") as service:
        node = service.url.split("://", 1)[1]
        with LocalNginx(tmp_path / "nginx", [node]) as nginx:
            front = nginx.url.split("://", 1)[1]
            assert _status(node, "/metrics") == 200   # the node itself still serves Prometheus
            for path in ("/metrics", "/metrics?format=text", "/metrics/", "//metrics", "/%6Detrics",
                         "/./metrics", "/api/../metrics"):
                assert _status(front, path) == 404, path
            assert _status(front, "/healthz") == 200
            assert _status(front, "/api/v1/trust-list") == 200
