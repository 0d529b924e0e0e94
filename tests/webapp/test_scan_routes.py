"""/scan/ over real HTTP: what it serves, with which headers, and what the rate limit leaves alone.

Runs after the browser tests (file order): its rate-limit test spends the client's budget for a minute.

The camera and WebAssembly are allowed under /scan/ only; every other route keeps the service's headers.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from keys.algorithms import PublicKey

from .conftest import RATE_LIMIT


def build(dist) -> dict:
    return json.loads((dist / "build.json").read_text("utf-8"))


def test_the_app_page_may_use_the_camera_and_compile_the_decoder(service):
    status, headers, body = service.get("/scan/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
    assert headers["Permissions-Policy"].startswith("camera=(self)")
    assert headers["Cache-Control"] == "no-cache"
    html = body.decode()
    # still no inline script: every script is a file of our own origin, no handler attributes
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts and all('src="/scan/assets/' in attrs and not body.strip() for attrs, body in scripts), scripts
    assert re.search(r"\son[a-z]+=", html) is None
    assert '<link rel="manifest" href="/scan/manifest.webmanifest">' in html


@pytest.mark.parametrize("path", ["/", "/api/v1/verify?qr=HELLO", "/api/v1/trust-list", "/healthz"])
def test_every_other_route_keeps_todays_headers(service, path):
    status, headers, _ = service.get(path)
    assert status == 200
    assert headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=(), payment=()"
    assert "wasm-unsafe-eval" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_decoder_is_served_from_our_origin_as_wasm_long_cached(service, dist):
    files = build(dist)["files"]
    wasm = files["decoder.wasm"]
    assert re.fullmatch(r"/scan/assets/zxing_reader-\d+\.\d+\.\d+-[0-9a-f]{10}\.wasm", wasm), wasm
    status, headers, body = service.get(wasm)
    assert status == 200
    assert headers["Content-Type"] == "application/wasm"
    assert "immutable" in headers["Cache-Control"] and "max-age=31536000" in headers["Cache-Control"]
    assert body[:4] == b"\0asm"
    status, headers, _ = service.get(files["app.js"])
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert service.get("/scan/assets/no-such-file.js")[0] == 404


def test_service_worker_and_manifest(service):
    status, headers, body = service.get("/scan/sw.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert headers["Cache-Control"] == "no-cache"  # a new version is seen at the next visit with signal
    status, headers, body = service.get("/scan/manifest.webmanifest")
    assert status == 200 and headers["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(body)
    assert manifest["start_url"] == manifest["scope"] == "/scan/"
    assert manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    assert any(i["purpose"] == "maskable" for i in manifest["icons"])
    for icon in manifest["icons"]:
        status, headers, body = service.get(icon["src"])
        assert status == 200 and headers["Content-Type"] == "image/png" and body[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_pins_the_root_of_the_services_trust_configuration(service):
    status, headers, body = service.get("/scan/config.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    config = json.loads(body)
    root = PublicKey.from_pem((service.data_dir / "trust" / "root.pub.pem").read_bytes())
    assert base64.b64decode(config["root"]["spki"]) == root.spki
    assert config["root"]["kid"] == root.kid
    assert config["max_age_s"] == 7 * 24 * 3600


def test_the_signed_feed_and_the_app_are_not_counted_against_a_client(service, dist):
    app_js = build(dist)["files"]["app.js"]
    allowed = int(RATE_LIMIT.split("/")[0])
    for _ in range(allowed + 5):  # more than the client may spend in a minute
        assert service.get("/api/v1/status-feed?since=0&limit=5")[0] == 200
        assert service.get("/api/v1/trust-list")[0] == 200
        assert service.get("/scan/")[0] == 200
        assert service.get(app_js)[0] == 200
    statuses = [service.get("/api/v1/verify?qr=HELLO")[0] for _ in range(allowed + 1)]
    assert 429 in statuses  # the limit itself still holds where it applies
