"""HTTPS for trials on a real phone: `crane-verify tls init` makes a CA and a server certificate, `serve
--tls-cert/--tls-key` serves with it; a client trusting only that CA checks it, and Chromium (a fresh profile
with the certificate's key pinned, as a phone that installed the CA) gets a secure context: camera, service
worker, crypto.randomUUID.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.service import BIN, Service

from .conftest import Phone, by_state

pytestmark = pytest.mark.browser


@dataclass
class TlsService(Service):
    ca_file: str = ""

    def request(self, method, path, body=None, headers=None):
        request = urllib.request.Request(self.url + path, method=method, headers=headers or {})
        context = ssl.create_default_context(cafile=self.ca_file)  # this CA only, host name checked
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


def test_served_over_tls_with_the_generated_certificate(built_app, playwright, tmp_path):
    data = tmp_path / "data"
    out = subprocess.run([str(BIN / "crane-verify"), "tls", "init", "--host", "127.0.0.1", "--data-dir", str(data)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    cert, key = re.search(r"--tls-cert (\S+) --tls-key (\S+)\"", out).groups()
    ca = str(data / "tls" / "ca.pem")
    server = TlsService(data, args=("--demo", "--host", "127.0.0.1", "--tls-cert", cert, "--tls-key", key),
                        ca_file=ca)
    try:
        server.start()
        assert server.url.startswith("https://127.0.0.1:")
        status, headers, _ = server.get("/scan/config.json")
        assert status == 200 and headers["Permissions-Policy"].startswith("camera=(self)")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(server.url + "/healthz", timeout=10,
                                   context=ssl.create_default_context())  # not trusted without the CA

        spki = x509.load_pem_x509_certificate(open(cert, "rb").read()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
        code = by_state(server.manifest(), "valid")
        phone = Phone(playwright, tmp_path / "profile", code["qr_text"], tmp_path / "cameras",
                      args=(f"--ignore-certificate-errors-spki-list={pin}",))
        try:
            phone.open(server.url)
            verdict = phone.verdict()
            assert (verdict["mode"], verdict["state"]) == ("online", "valid")
            assert phone.page.evaluate("isSecureContext && typeof crypto.randomUUID === 'function'")
            phone.offline_ready()  # the service worker installed: a secure context
            # A phone camera opening the enrolment QR's address lands in the app, which enrols with the code.
            out = subprocess.run([str(BIN / "crane-verify"), "token", "create", "--role", "inspector", "--region", "21",
                                  "--name", "王五", "--enrol", "--data-dir", str(data)],
                                 check=True, capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "CRANE_PUBLIC_URL": server.url}).stdout
            landing = re.search(r"enrolment QR: (\S+)", out).group(1)
            assert landing.startswith(server.url.upper() + "/E/")
            phone.page.goto(server.url + landing[len(server.url):])
            phone.page.wait_for_selector("html[data-enrolled=true]", state="attached", timeout=30_000)
            assert phone.page.evaluate("location.hash") == ""  # the code does not stay in the address
            assert phone.problems == []
        finally:
            phone.close()
    finally:
        server.stop()
