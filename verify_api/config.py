"""Service configuration, from the environment (the names in README.md, "Environment") or a test's dict."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keys.errors import CraneError

DEFAULT_RATE_LIMIT = "120/minute"


def _now() -> datetime:
    return datetime.now(UTC)


class ConfigError(CraneError):
    """A setting in the environment that cannot be used; the message names it."""


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigError(f"{name} 须为不小于 1 的整数天数，现为 {text!r} / {name} must be a whole number of days, "
                          f"at least 1, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Config:
    data_dir: Path = Path("var")
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    rate_limit: str | None = DEFAULT_RATE_LIMIT
    bad_token_limit: str = "20/minute"  # noqa: S105 - a rate, not a secret
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    retention_days: int = 180
    inspection_retention_days: int = 3 * 365   # CRANE_INSPECTION_RETENTION_DAYS
    photo_retention_days: int = 365            # CRANE_PHOTO_RETENTION_DAYS
    max_body: int = 64 * 1024
    max_qr_query: int = 4096
    redis_timeout: float = 1.0
    redis_replicas: int = 0
    # CRANE_STATUS_CACHE_S: a scan's status is kept per worker while Redis tracks it (CLIENT TRACKING), and
    # never longer than this; 0 reads it from Redis for every scan (verify_api/store/status_cache.py)
    status_cache_s: float = 1.0
    trust_reload_s: float = 2.0
    seal_roots: tuple[Path, ...] = ()  # CRANE_SEAL_ROOTS: PEM files of the SM2 seal roots e-certificate files chain to
    max_file: int = 10 * 1024 * 1024   # an uploaded e-certificate file; only its route takes more than max_body
    decode_slots: int = 1              # CRANE_DECODE_SLOTS: uploads decoded at once by all workers; keep below them
    now: Callable[[], datetime] = field(default=_now, compare=False)

    @property
    def trust_path(self) -> Path:
        return self.data_dir / "trust" / "trust.json"

    root_pub: Path | None = None  # CRANE_ROOT_PUB; default: the data directory's pinned root

    @property
    def root_pub_path(self) -> Path:
        return self.root_pub or self.data_dir / "trust" / "root.pub.pem"

    @property
    def feed_key_path(self) -> Path:
        return self.data_dir / "keys" / "feed.key.pem"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if env is None else env
        rate = env.get("CRANE_RATE_LIMIT", DEFAULT_RATE_LIMIT).strip()
        proxies = tuple(ipaddress.ip_network(p.strip(), strict=False)
                        for p in env.get("CRANE_TRUSTED_PROXIES", "").split(",") if p.strip())
        config = cls(
            data_dir=Path(env.get("CRANE_DATA_DIR", "var")),
            redis_url=env.get("REDIS_URL") or None,
            public_url=env.get("CRANE_PUBLIC_URL", cls.public_url),
            rate_limit=None if rate.lower() == "off" else rate,
            trusted_proxies=proxies,
            retention_days=int(env.get("CRANE_LOG_RETENTION_DAYS", "180")),
            inspection_retention_days=_days(env, "CRANE_INSPECTION_RETENTION_DAYS", cls.inspection_retention_days),
            photo_retention_days=_days(env, "CRANE_PHOTO_RETENTION_DAYS", cls.photo_retention_days),
            redis_replicas=int(env.get("CRANE_REDIS_REPLICAS", "0")),
            status_cache_s=float(env.get("CRANE_STATUS_CACHE_S", cls.status_cache_s)),
            root_pub=Path(env["CRANE_ROOT_PUB"]) if env.get("CRANE_ROOT_PUB") else None,
            seal_roots=tuple(Path(p) for p in env.get("CRANE_SEAL_ROOTS", "").split(os.pathsep) if p.strip()),
            decode_slots=int(env.get("CRANE_DECODE_SLOTS", "1")),
        )
        return config.with_(**overrides)

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError("CRANE_LOG_RETENTION_DAYS must be at least 1 (the law asks for 180)")

    def with_(self, **overrides: Any) -> Config:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown config keys: {', '.join(sorted(unknown))}")
        if "data_dir" in overrides:
            overrides["data_dir"] = Path(overrides["data_dir"])
        return replace(self, **overrides)
