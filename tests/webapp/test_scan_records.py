"""The phone as an inspector's device: enrolment by the enrolment QR, the enrolled region's feed only, a
certificate of another region unknown offline, and checks made offline reaching the supervisors exactly once
after the service is back (stopped and started on the same address between).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.service import BIN, Service

from .conftest import VERDICT_TIMEOUT_MS, Phone, start_service
from .fake_camera import blank_file, image_file

pytestmark = pytest.mark.browser


def crane_verify(service: Service, *args: str) -> str:
    return subprocess.run([str(BIN / "crane-verify"), *args, "--data-dir", str(service.data_dir)], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def supervisor_records(service: Service) -> list[dict]:
    token = crane_verify(service, "token", "create", "--role", "supervisor", "--region", "21",
                         "--name", "李四").strip().splitlines()[-1]
    status, _, body = service.get("/api/v1/inspections?since=0", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return json.loads(body)["inspections"]


def test_enrolled_offline_check_is_uploaded_once_after_the_service_returns(built_app, playwright, tmp_path):
    service = start_service(tmp_path / "data")
    try:
        port = service.url.rsplit(":", 1)[1]
        png = tmp_path / "enrol.png"
        out = crane_verify(service, "token", "create", "--role", "inspector", "--region", "2101", "--name", "张三",
                           "--enrol", "--qr-png", str(png))
        assert re.search(r"enrolment QR: \S+/E/[A-Z2-7]{26}", out)
        cameras = tmp_path / "cameras"
        cameras.mkdir()
        valid = [c for c in service.manifest()["certificates"] if c["expected_status"] == "valid" and c.get("qr_text")]
        code = next(c for c in valid if c["registration_no"].startswith("辽A-"))  # 沈阳, region 2101
        elsewhere = next(c for c in valid if c["registration_no"].startswith("辽B-"))  # 大连, 2102

        # Enrolment: the camera shows the PNG the CLI wrote; the app knows it is no certificate.
        phone = Phone(playwright, tmp_path / "profile", None, cameras, video=image_file(png, cameras / "enrol.y4m"))
        try:
            phone.open(service.url)
            phone.page.wait_for_selector("html[data-enrolled=true]", state="attached", timeout=VERDICT_TIMEOUT_MS)
            assert "张三" in phone.page.locator("#inspector-status").inner_text()
            assert phone.page.locator("#verdict").get_attribute("data-final") == "false"  # not read as a certificate
            # The enrolled region is the default: the data is that region's feed only.
            phone.page.wait_for_selector("html[data-regions='2101']", state="attached", timeout=VERDICT_TIMEOUT_MS)
            held = phone.page.evaluate("""() => new Promise((ok, fail) => {
                const open = indexedDB.open("crane-scan");
                open.onsuccess = () => { const all = open.result.transaction("rows").objectStore("rows").getAll();
                  all.onsuccess = () => ok(all.result.map((r) => r.registration_no)); all.onerror = fail; };
                open.onerror = fail; })""")
            assert held and all(n.startswith("辽A-") for n in held)
            assert set(held) == {c["registration_no"] for c in service.manifest()["certificates"]
                                 if c["registration_no"].startswith("辽A-")}
            phone.offline_ready()
            assert phone.problems == []
        finally:
            phone.close()
        service.stop()

        # With no signal: the check is shown and kept; the app is closed before anything could be sent.
        phone = Phone(playwright, tmp_path / "profile", code["qr_text"], cameras)
        try:
            phone.context.set_offline(True)
            phone.open(service.url)
            assert phone.verdict()["mode"] == "offline"
            phone.page.wait_for_selector("html[data-pending='1']", state="attached", timeout=10_000)
            assert "待上传" in phone.page.locator("#pending-badge").inner_text()
            # a photo of the plate goes with the record, made smaller and JPEG on the phone
            phone.page.locator("#record-photo").set_input_files(str(png))
            phone.page.locator("#record-message", has_text="照片已附在记录").wait_for(timeout=10_000)
        finally:
            phone.close()
        # A certificate of another region reads unknown offline, never a guess (and is a record too).
        phone = Phone(playwright, tmp_path / "profile", elsewhere["qr_text"], cameras)
        try:
            phone.context.set_offline(True)
            phone.open(service.url)
            verdict = phone.verdict()
            assert (verdict["mode"], verdict["state"], verdict["signature"]) == ("offline", "unknown", "valid")
            assert "不在本机已同步的地区" in phone.page.locator("#result").inner_text()
            phone.page.wait_for_selector("html[data-pending='2']", state="attached", timeout=10_000)
        finally:
            phone.close()

        service = Service(service.data_dir, args=("--port", port)).start()  # the same address as before
        uploads: list[int] = []

        def cut_off_first(route):
            """The first upload reaches the service but its answer never reaches the phone."""
            uploads.append(route.request.method == "POST")
            if len(uploads) == 1:
                route.fetch()
                route.abort("connectionreset")
            else:
                route.continue_()

        for launch in range(2):  # opened twice: what was acknowledged is not sent again
            phone = Phone(playwright, tmp_path / "profile", None, cameras, video=blank_file(cameras / "blank.y4m"))
            try:
                if launch == 0:
                    phone.context.route("**/api/v1/inspections", cut_off_first)
                phone.open(service.url)
                phone.page.wait_for_selector("html[data-pending='0']", state="attached", timeout=VERDICT_TIMEOUT_MS)
                # the history list is drawn after the count changes: wait for it to show the answers too
                phone.page.wait_for_function("""() => { const items = [...document.querySelectorAll('#history li')];
                    return items.length === 2 && items.every((i) => i.dataset.upload !== 'pending'); }""",
                                             timeout=VERDICT_TIMEOUT_MS)
                states = phone.page.locator("#history li").evaluate_all("items => items.map(i => i.dataset.upload)")
                assert states == ["duplicate", "duplicate"]  # acknowledged by the resend after the cut-off
            finally:
                phone.close()

        assert uploads == [True, True]  # cut off once, sent again with the same ids, then nothing more
        records = supervisor_records(service)
        assert sorted(r["qr"] for r in records) == sorted([code["qr_text"], elsewhere["qr_text"]])  # each once
        record = next(r for r in records if r["qr"] == code["qr_text"])
        assert record["shown"]["mode"] == "offline" and record["shown"]["state"] == "valid"
        assert record["shown"]["data_age_s"] is not None
        assert record["plate"] == {"record_no": "unchecked", "factory_serial": "unchecked"}
        assert record["inspector"]["region"] == "2101"
        assert record["found"]["registration_no"] == code["registration_no"]
        other = next(r for r in records if r["qr"] == elsewhere["qr_text"])
        assert other["shown"]["state"] == "unknown" and "status_changed" in other["flags"]
    finally:
        service.stop()
