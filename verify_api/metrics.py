"""Prometheus metrics: requests and latency by endpoint, verdict counts. Multiprocess under gunicorn."""

from __future__ import annotations

import os
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from keys.answer import Answer

REQUESTS = Counter("crane_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram("crane_http_request_duration_seconds", "HTTP request latency", ["endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
VERDICTS = Counter("crane_verdicts_total", "Verification answers", ["signature", "state", "ok"])
INSPECTIONS = Counter("crane_inspections_received_total", "Inspection records stored (duplicates not counted)")
FLAGS = Counter("crane_inspection_flags_total", "Flags found on stored inspection records", ["code"])


_children: dict[tuple, tuple] = {}
_verdicts: dict[tuple, Any] = {}


def observe(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count a request; label children are looked up once per combination, not per request."""
    key = (endpoint, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint))
    children[0].inc()
    children[1].observe(seconds)


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def count_verdict(answer: Answer) -> None:
    key = (answer.signature.result.value, answer.status.state.value, "true" if answer.verdict.ok else "false")
    child = _verdicts.get(key)
    if child is None:
        child = _verdicts[key] = VERDICTS.labels(*key)
    child.inc()


def count_inspection(flags: Iterable[StrEnum]) -> None:
    INSPECTIONS.inc()
    for flag in flags:
        FLAGS.labels(flag.value).inc()
