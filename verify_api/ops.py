"""For the engineer who runs it: liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from . import metrics
from .errors import RETRY_AFTER
from .openapi import spec
from .services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    s = services()
    checks = {"store": s.store.ping()}
    try:
        s.trust.current()
        checks["trust_list"] = True
    except Exception:  # noqa: BLE001 - any failure to load means not ready
        checks["trust_list"] = False
    ready = all(checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks,
                        "trust_error": s.trust.error})
    if not ready:
        response.status_code = 503
        response.headers.update(RETRY_AFTER)
    return response


@bp.get("/metrics")
def prometheus():
    return Response(metrics.exposition(), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec(services().config.public_url))
