"""The inspector's phone app at /scan/: the built shell from webapp/dist, its service worker, and the pin it needs.

The app is built by `webapp/build.mjs` (run by `make run` and `make test`) into webapp/dist; this module only
serves it. Only here may a page use the camera and compile WebAssembly (the QR decoder): both permissions are
scoped to /scan/, and every other route keeps the service's default headers. Hashed assets are cached for a
year; the page, the service worker, the manifest and the configuration are revalidated on every load, so a
new version reaches the phone at its next visit with signal.
"""

from __future__ import annotations

import base64
import json
import os
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory

from keys.algorithms import PublicKey

from .services import services

bp = Blueprint("scan", __name__, url_prefix="/scan")

# CRANE_SCAN_DIST serves another build (tests publish a new version of the app with it)
DIST = Path(os.environ.get("CRANE_SCAN_DIST") or Path(__file__).resolve().parents[1] / "webapp" / "dist")
MAX_DATA_AGE_S = 7 * 24 * 3600  # offline data older than this gives `unknown`, never a guess
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(self), payment=()"  # position: only when the inspector turns it on
IMMUTABLE = 365 * 24 * 3600
_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".css": "text/css", ".png": "image/png",
          ".svg": "image/svg+xml", ".webmanifest": "application/manifest+json"}


def _csp() -> str:
    from . import CSP  # the service-wide policy; the app adds only what compiling the decoder needs

    return CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'") + "; worker-src 'self'"


@bp.after_request
def _scoped_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _csp()
    response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
    return response


def _built(name: str, cache_control: str) -> Response:
    if not (DIST / name).is_file():
        return _not_built()
    response = send_from_directory(DIST, name, mimetype=_TYPES.get(Path(name).suffix), max_age=0)
    response.headers["Cache-Control"] = cache_control
    return response


def _not_built() -> Response:
    return Response(render_template("error.html", code=503), 503, {"Retry-After": "30", "Cache-Control": "no-store"})


@bp.get("/")
def index() -> Response:
    return _built("index.html", "no-cache")


@bp.get("/sw.js")
def service_worker() -> Response:
    # at /scan/sw.js its default scope is /scan/: the worker can answer every page and asset of the app
    return _built("sw.js", "no-cache")


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    return _built("manifest.webmanifest", "no-cache")


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    if not (DIST / "assets" / name).is_file():
        abort(404)
    response = send_from_directory(DIST / "assets", name, mimetype=_TYPES.get(Path(name).suffix), max_age=IMMUTABLE)
    response.headers["Cache-Control"] = f"public, max-age={IMMUTABLE}, immutable"  # names carry a content hash
    return response


@bp.get("/config.json")
def config() -> Response:
    """What the app pins and obeys: the root key of the service's trust configuration, not of the list it serves.

    The app accepts a trust list only when this root (or a root it cross-signed) signed it, as `crane-scan
    sync --root-pub` does; the pin then moves only along cross-signed rotations, kept on the phone.
    """
    s = services()
    root = _root(s.config.root_pub_path)
    body = {"format": 1, "root": {"kid": root.kid, "alg": root.alg.value, "spki": _b64(root.spki)},
            "max_age_s": MAX_DATA_AGE_S, "public_url": s.config.public_url}
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json",
                    headers={"Cache-Control": "no-cache"})


@lru_cache(maxsize=4)
def _root_at(path: Path, stamp: tuple[int, int]) -> PublicKey:
    return PublicKey.from_pem(path.read_bytes())


def _root(path: Path) -> PublicKey:
    stat = path.stat()
    return _root_at(path, (stat.st_mtime_ns, stat.st_size))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
