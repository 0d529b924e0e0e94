"""E-certificate files through the running service (`crane-verify serve --demo`, gunicorn, real HTTP):
POST /api/v1/verify-file and the upload page, the sealed demo documents, hostile uploads, the decode pool."""

from __future__ import annotations

import fcntl
import http.client
import io
import json
import os
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from qrdecode.files import PICTURE_NOTE
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.service import Service

from .edit import edited, flip

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with Service(tmp_path_factory.mktemp("documents-service")) as running:
        yield running


@pytest.fixture(scope="module")
def valid(service) -> dict:
    """A demo certificate in force, with its sealed OFD."""
    return next(c for c in service.manifest()["certificates"] if c["expected_status"] == "valid" and "ofd" in c)


def upload(service: Service, data: bytes, name: str = "file.ofd", path: str = "/api/v1/verify-file",
           field: str = "file") -> tuple[int, dict[str, str], bytes]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return send(service, body, f"multipart/form-data; boundary={boundary}", path)


def send(service: Service, body: bytes, content_type: str, path: str = "/api/v1/verify-file"):
    host = urlsplit(service.url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_sealed_demo_document_verifies_fully_and_its_code_resolves(service, valid):
    data = Path(valid["ofd"]).read_bytes()
    status, headers, body = upload(service, data, "证照.ofd")
    assert status == 200, body
    report = json.loads(body)
    assert (report["file"], report["format"], report["intact"]) == ("证照.ofd", "ofd", True)
    [seal] = report["signatures"]
    assert (seal["type"], seal["format"], seal["signature_valid"], seal["seal_valid"], seal["references_bad"],
            seal["trusted"]) == ("seal", "ses-v4", True, True, [], True)
    assert seal["signer"]["subject"]
    [code] = report["codes"]
    assert code["verdict"]["ok"] is True
    assert code["certificate"]["registration_no"] == valid["registration_no"]
    assert headers["Cache-Control"] == "no-store"


def test_one_byte_changed_in_a_page_is_caught(service, valid):
    data = edited(Path(valid["ofd"]).read_bytes(), "Doc_0/Pages/Page_0/Content.xml", flip(200))
    status, _, body = upload(service, data)
    report = json.loads(body)
    assert status == 200 and report["intact"] is False
    assert report["signatures"][0]["references_bad"] == ["Doc_0/Pages/Page_0/Content.xml"]
    assert report["signatures"][0]["signature_valid"] is True    # the seal still signs what it signed


def test_the_verdict_page_lists_each_check(service, valid):
    status, headers, body = upload(service, Path(valid["ofd"]).read_bytes(), path="/file")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "文件完整，证书有效" in page and "File intact, certificate valid" in page
    assert page.count("✔") >= 6 and "✘" not in page
    tampered = edited(Path(valid["ofd"]).read_bytes(), "Doc_0/Pages/Page_0/Content.xml", flip(200))
    page = upload(service, tampered, path="/file")[2].decode()
    assert "文件未通过核验" in page and "✘" in page and "Doc_0/Pages/Page_0/Content.xml" in page


def test_a_photo_resolves_its_code_and_says_the_seal_cannot_be_checked(service, valid):
    status, _, body = upload(service, Path(valid["qr_png"]).read_bytes(), "photo.png")
    report = json.loads(body)
    assert status == 200
    assert (report["format"], report["intact"], report["signatures"]) == ("png", None, [])
    assert report["notes"] == [PICTURE_NOTE]
    assert report["codes"][0]["verdict"]["ok"] is True
    page = upload(service, Path(valid["qr_png"]).read_bytes(), path="/file")[2].decode()
    assert "图片无法核验电子签章" in page and "证书有效，文件签章未核验" in page


def test_a_pdf_resolves_its_code_and_its_signature_is_not_checked(service, valid):
    picture = Image.open(io.BytesIO(Path(valid["qr_png"]).read_bytes())).convert("RGB")
    pdf = io.BytesIO()
    picture.save(pdf, format="PDF")      # the picture as a JPEG (DCTDecode) image
    report = json.loads(upload(service, pdf.getvalue(), "cert.pdf")[2])
    assert (report["format"], report["intact"]) == ("pdf", None)
    assert any("PDF" in note and "not checked" in note for note in report["notes"])
    assert report["codes"][0]["certificate"]["registration_no"] == valid["registration_no"]


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"%not a certificate file" * 100, 415, "unsupported_file"),
    (b"PK\x03\x04" + os.urandom(2000), 422, "unreadable_document"),
    (_zip([("OFD.xml", b"<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>"),
           ("Doc_0/Res/zeros.bin", bytes(30 * 1024 * 1024))]), 422, "unreadable_document"),
    (b"", 400, "missing_file"),
], ids=["not-a-file-we-read", "not-a-zip", "zip-bomb", "empty"])
def test_hostile_uploads_get_a_clear_4xx_within_a_second(service, data, status, code):
    started = time.monotonic()
    answer, _, body = upload(service, data)
    assert time.monotonic() - started < 1.0
    error = json.loads(body)
    assert (answer, error["code"]) == (status, code)
    assert error["message"][0] > "\u2e80"      # Chinese first


def test_too_large_is_413_within_a_second_and_other_routes_keep_their_limit(service):
    started = time.monotonic()
    try:
        status, _, body = upload(service, bytes(11 * 1024 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pytest.fail("the service cut the upload off without answering")
    assert time.monotonic() - started < 1.0
    assert (status, json.loads(body)["code"]) == (413, "too_large")
    assert "10 MB" in json.loads(body)["message"]
    status, _, _ = send(service, json.dumps({"qr": "x" * 70_000}).encode(), "application/json", "/api/v1/verify")
    assert status == 413


def test_not_multipart_is_415(service):
    status, _, body = send(service, b'{"file": "x"}', "application/json")
    assert (status, json.loads(body)["code"]) == (415, "unsupported_media_type")


def test_a_full_pool_answers_503_at_once_while_verification_keeps_answering(service, valid):
    slots = service.data_dir / "run" / "decode-slots"
    slots.mkdir(parents=True, exist_ok=True)
    fd = os.open(slots / "slot-0.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)     # what another worker's upload holds while it is decoded
        started = time.monotonic()
        status, headers, body = upload(service, Path(valid["ofd"]).read_bytes())
        assert time.monotonic() - started < 1.0
        assert (status, json.loads(body)["code"], headers["Retry-After"]) == (503, "busy", "5")
        status, _, body = service.post("/api/v1/verify", {"qr": valid["qr_text"]})
        assert status == 200 and json.loads(body)["verdict"]["ok"] is True
    finally:
        os.close(fd)
    assert upload(service, Path(valid["ofd"]).read_bytes())[0] == 200


def test_the_upload_page_in_chromium(service, valid):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, locale="zh-CN")
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(service.url + "/")
            page.click("a[href='/file']")
            assert "电子证照文件核验" in page.text_content("h1")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "file-upload.png"), full_page=True)
            page.set_input_files("input[name=file]", valid["ofd"])
            page.click("button[type=submit]")
            page.wait_for_selector(".verdict")
            page.screenshot(path=str(ARTIFACTS / "file-result.png"), full_page=True)
            assert "文件完整，证书有效" in page.text_content(".verdict h1")
            assert page.locator("[data-ok=no]").count() == 0
            assert page.locator("[data-ok=yes]").count() >= 6
        finally:
            browser.close()
    assert problems == []
