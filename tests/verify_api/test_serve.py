"""The service as a user starts it: `crane-verify serve --demo`, over real HTTP."""

import io
import json
import os
import signal
import time
import urllib.parse
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from keys.cli_env import Environment
from tests.service import Service, alive, process_tree
from verify_api.cli import main
from verify_api.redis_server import ensure_embedded


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with Service(tmp_path_factory.mktemp("serve") / "data") as running:
        yield running


def test_every_demo_qr_over_http(service):
    manifest = service.manifest()
    assert manifest["public_url"] == service.url
    checked = 0
    for cert in manifest["certificates"]:
        if "qr_text" not in cert:
            continue
        assert cert["qr_text"].startswith(service.url.upper() + "/V/")
        status, headers, body = service.post("/api/v1/verify", {"qr": cert["qr_text"]})
        answer = json.loads(body)
        assert status == 200 and answer["status"]["state"] == cert["expected_status"], cert
        checked += 1
    assert checked >= 40


def test_the_issue_3_checks(service):
    manifest = service.manifest()
    valid = next(c for c in manifest["certificates"] if c["expected_status"] == "valid")
    text = valid["qr_text"]
    changed = text[:-20] + ("A" if text[-20] != "A" else "C") + text[-19:]
    answer = json.loads(service.post("/api/v1/verify", {"qr": changed})[2])
    assert answer["signature"]["result"] != "valid" and not answer["verdict"]["ok"]
    reg = urllib.parse.quote(valid["registration_no"])
    assert service.get(f"/api/v1/certificates/{reg}")[0] == 404
    record = urllib.parse.quote(valid["record_no"])
    assert service.get(f"/api/v1/certificates/{reg}?record_no={record}")[0] == 200
    assert "/api/v1/verify" in json.loads(service.get("/openapi.json")[2])["paths"]
    metrics = service.get("/metrics")[2].decode()
    assert "crane_verdicts_total{" in metrics and 'state="valid"' in metrics
    page = service.get("/V/" + text.rsplit("/", 1)[1])[2].decode()
    assert "有效" in page and valid["record_no"] in page


def test_demo_qr_images_exist_and_decode(service):
    cert = next(c for c in service.manifest()["certificates"] if "qr_png" in c)
    results = zxingcpp.read_barcodes(Image.open(cert["qr_png"]))
    assert [r.text for r in results] == [cert["qr_text"]]


def test_registrations_survive_a_restart(tmp_path):
    data_dir = tmp_path / "data"
    with Service(data_dir) as first:
        out = io.StringIO()
        main(["token", "create", "--issuer", "210100", "--data-dir", str(data_dir)],
             Environment(stdout=out, stderr=io.StringIO()))
        token = out.getvalue().splitlines()[-1]
        cert = next(c for c in first.manifest()["certificates"] if c["expected_status"] == "valid"
                    and c["registration_no"].startswith("辽A"))
        reg = urllib.parse.quote(cert["registration_no"])
        status, _, body = first.post(f"/api/v1/issuer/certificates/{reg}/status",
                                     {"state": "suspended", "reason": "重启测试"},
                                     headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
    with Service(data_dir, args=()) as second:
        answer = json.loads(second.post("/api/v1/verify", {"qr": cert["qr_text"]})[2])
        assert answer["status"]["state"] == "suspended"
        assert answer["status"]["reason"] == "重启测试"


def test_gunicorn_does_not_outlive_a_killed_serve(tmp_path):
    try:
        with Service(tmp_path / "data") as service:
            master = [p for p in process_tree().get(service.process.pid, [])
                      if b"-m\x00gunicorn" in Path(f"/proc/{p}/cmdline").read_bytes()]
            assert len(master) == 1
            os.kill(service.process.pid, signal.SIGKILL)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and alive(master[0]):
                time.sleep(0.2)
            survived = alive(master[0])
            if survived:
                os.kill(master[0], signal.SIGTERM)
            assert not survived, "gunicorn lived on after serve was killed"
    finally:
        # the data directory's redis-server outlives any one command by design; stop it as its last user
        ensure_embedded(tmp_path / "data").close()
