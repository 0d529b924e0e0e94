"""Every answer the demo data gives, JSON and page text, pinned in a golden file.

A refactor must not change what a user sees. The golden file is made with a fixed clock; what differs
between runs only because keys are generated afresh (kid, the QR payload) is replaced by stable names.
Regenerate deliberately, when a user-visible change is intended, with CRANE_UPDATE_GOLDEN=1 and read
the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from verify_api import create_app, demo

GOLDEN = Path(__file__).parent / "golden" / "demo_answers.json"
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


class _Text(HTMLParser):
    """The text a person reads on a page, one line per block, scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self._skip:
            self.lines.append(text)


def page_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.lines


def _stable(value, names: dict[str, str]):
    """Replace run-specific strings (kids, payloads) by stable names, recursively."""
    if isinstance(value, dict):
        return {k: _stable(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v, names) for v in value]
    if isinstance(value, str):
        for real, stable in names.items():
            value = value.replace(real, stable)
        return value
    return value


@pytest.fixture
def golden_app(config):
    app = create_app(config.with_(now=lambda: NOW))
    app.testing = True
    return app


def test_demo_answers_unchanged(golden_app, data_dir):
    store = golden_app.extensions["crane"].store
    path, _ = demo.build(store, data_dir, golden_app.extensions["crane"].config.public_url, NOW)
    manifest = json.loads(path.read_text("utf-8"))
    keys = demo.ensure_keys(data_dir)
    names = {k.public_key().kid: f"KID-{code}" for code, k in keys.issuers.items()}
    names[keys.feed.public_key().kid] = "KID-FEED"
    names[keys.root.public_key().kid] = "KID-ROOT"
    client = golden_app.test_client()
    answers: dict[str, dict] = {}
    for n, cert in enumerate(manifest["certificates"]):
        key = f"{cert['registration_no']} v{cert['version']}"
        got: dict = {}
        if cert.get("qr_text"):
            payload = cert["qr_text"].rsplit("/", 1)[1]
            names[payload] = f"PAYLOAD-{n:03d}"
            got["verify"] = client.post("/api/v1/verify", json={"qr": cert["qr_text"]}).get_json()
            landing = client.get(f"/V/{payload}")
            got["page"] = [landing.status_code, page_text(landing.get_data(as_text=True))]
        response = client.get(f"/api/v1/certificates/{cert['registration_no']}",
                              query_string={"record_no": cert["record_no"]})
        got["lookup"] = [response.status_code, response.get_json()]
        page = client.get("/lookup", query_string={"registration_no": cert["registration_no"],
                                                   "record_no": cert["record_no"]})
        got["lookup_page"] = [page.status_code, page_text(page.get_data(as_text=True))]
        answers[key] = got
    for probe in ("HTTPS://VERIFY.EXAMPLE.CN/V/AAAA", "hello", "1.2.156.3005.2.11100000000013338W999.X.1.001.A"):
        answers[f"probe {probe}"] = {"verify": client.post("/api/v1/verify", json={"qr": probe}).get_json()}
    answers = _stable(answers, names)
    text = json.dumps(answers, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    text = re.sub(r'"checked_at": "[^"]*"', '"checked_at": "NOW"', text)
    if os.environ.get("CRANE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, "utf-8")
    assert GOLDEN.is_file(), "no golden file: run with CRANE_UPDATE_GOLDEN=1 once"
    expected = GOLDEN.read_text("utf-8")
    if text != expected:
        got_answers, want = json.loads(text), json.loads(expected)
        changed = sorted(k for k in set(got_answers) | set(want) if got_answers.get(k) != want.get(k))
        pytest.fail(f"{len(changed)} demo answers changed, first: {changed[:5]}\n"
                    f"got: {json.dumps(got_answers.get(changed[0]), ensure_ascii=False)[:1500]}\n"
                    f"want: {json.dumps(want.get(changed[0]), ensure_ascii=False)[:1500]}")
