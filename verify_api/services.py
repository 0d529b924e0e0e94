"""What the blueprints share, held on the app: config, store, trust list, feed signer, limiter."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import current_app, request
from flask_limiter import Limiter

from keys.algorithms import PrivateKey

from .config import Config
from .scanlog import ScanLog
from .store import Store
from .trust import TrustSource


@dataclass
class Services:
    config: Config
    store: Store
    trust: TrustSource
    feed_key: PrivateKey | None
    limiter: Limiter
    scan_log: ScanLog


def services() -> Services:
    return current_app.extensions["crane"]


def client_address() -> str:
    """The peer's address; X-Forwarded-For is believed only from configured trusted proxies.

    Walking the header from the right, every hop that is itself a trusted proxy is skipped; the first
    address that is not is the client. A client cannot spoof its way past a proxy that appends.
    """
    config: Config = current_app.extensions["crane"].config
    peer = request.remote_addr or "unknown"
    if not config.trusted_proxies or not _trusted(peer, config):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, config):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, config: Config) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in config.trusted_proxies)
