"""With no signal: a phone that synced once opens the app from its cache and verifies from its own data.

The module's service is stopped after the first sync, and every later launch is offline too (set_offline),
with the same persistent profile: service worker, cache and IndexedDB are what a phone keeps.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.service import BIN

from .conftest import Phone, by_state, start_service, tampered

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def synced(built_app, playwright, tmp_path_factory):
    """A profile that opened /scan/ online once (verdict given, data synced, shell cached); the service then stops."""
    base = tmp_path_factory.mktemp("scan-offline")
    service = start_service(base / "data")
    try:
        manifest = service.manifest()
        codes = {"tampered": tampered(service, by_state(manifest, "valid")["qr_text"])}
        suspended = by_state(manifest, "valid")
        phone = Phone(playwright, base / "profile", suspended["qr_text"], base / "cameras")
        try:
            phone.open(service.url)
            assert phone.verdict()["mode"] == "online"
            phone.offline_ready()
            # A change at the registry reaches the phone at the next sync, which resumes from its cursor.
            subprocess.run([str(BIN / "crane-verify"), "status", suspended["registration_no"], "suspended",
                            "--reason", "安全检查发现重大隐患", "--data-dir", str(service.data_dir)],
                           check=True, capture_output=True, timeout=60)
            phone.page.locator("#sync-now").click()
            phone.page.wait_for_selector("#sync-message:has-text('同步完成：1 条新记录')", timeout=30_000)
            synced_at = datetime.now(UTC)
        finally:
            phone.close()
    finally:
        service.stop()
    return {"url": service.url, "manifest": manifest, "profile": base / "profile", "cameras": base / "cameras",
            "codes": codes, "synced_at": synced_at, "suspended": suspended}


def offline_phone(playwright, synced, code: str, clock: datetime | None = None) -> Phone:
    phone = Phone(playwright, synced["profile"], code, synced["cameras"])
    phone.context.set_offline(True)
    if clock is not None:
        phone.page.clock.set_system_time(clock)
    response = phone.open(synced["url"])
    assert response is not None and response.ok  # answered by the service worker from its cache
    return phone


def test_a_change_synced_after_the_first_sync_is_read_offline(playwright, synced):
    phone = offline_phone(playwright, synced, synced["suspended"]["qr_text"])
    try:
        verdict = phone.verdict()
        assert (verdict["state"], verdict["signature"], verdict["mode"]) == ("suspended", "valid", "offline")
        assert verdict["word"] == "已暂扣"
    finally:
        phone.close()


def test_revoked_reads_revoked_offline(playwright, synced):
    phone = offline_phone(playwright, synced, by_state(synced["manifest"], "revoked")["qr_text"])
    try:
        verdict = phone.verdict()
        assert (verdict["state"], verdict["signature"], verdict["mode"]) == ("revoked", "valid", "offline")
        assert verdict["word"] == "已撤销"
        assert "离线" in phone.page.locator("#verdict .badge").inner_text()  # offline, with the data's age
        phone.shot("scan-offline-revoked.png")
        assert phone.problems == []
    finally:
        phone.close()


def test_another_valid_code_offline_and_a_changed_signature(playwright, synced):
    valid = [c for c in synced["manifest"]["certificates"] if c["expected_status"] == "valid" and c.get("qr_text")]
    phone = offline_phone(playwright, synced, valid[3]["qr_text"])
    try:
        verdict = phone.verdict()
        assert (verdict["state"], verdict["signature"], verdict["mode"]) == ("valid", "valid", "offline")
        phone.page.locator("#text").fill(synced["codes"]["tampered"])
        phone.page.locator("#text").press("Enter")
        verdict = phone.verdict()
        assert (verdict["signature"], verdict["mode"], verdict["word"]) == ("invalid", "offline", "签名无效")
        # a paper certificate by its two numbers, from the synced data
        paper = next(c for c in synced["manifest"]["certificates"] if c["expected_status"] == "paper_legacy")
        phone.page.locator("#registration_no").fill(paper["registration_no"])
        phone.page.locator("#record_no").fill(paper["record_no"])
        phone.page.locator("#lookup-form button[type=submit]").click()
        verdict = phone.verdict()
        assert (verdict["state"], verdict["mode"]) == ("paper_legacy", "offline")
        phone.page.locator("#record_no").fill("辽A-T-99999")  # numbers that do not belong together
        phone.page.locator("#lookup-form button[type=submit]").click()
        assert (phone.verdict()["state"], phone.verdict()["mode"]) == ("not_found", "offline")
        assert phone.problems == []
    finally:
        phone.close()


def test_data_older_than_the_limit_gives_unknown_and_a_clock_behind_is_flagged(playwright, synced):
    eight_days_on = synced["synced_at"] + timedelta(days=8)
    phone = offline_phone(playwright, synced, by_state(synced["manifest"], "valid")["qr_text"], clock=eight_days_on)
    try:
        verdict = phone.verdict()
        assert (verdict["state"], verdict["signature"], verdict["mode"]) == ("unknown", "valid", "offline")
        assert "过期" in phone.page.locator("#result").inner_text()  # says why: the data is out of date
        phone.shot("scan-offline-stale.png")
        # a phone whose clock is behind its data says so: its "how old" cannot be trusted
        phone.page.clock.set_system_time(synced["synced_at"] - timedelta(days=1))
        phone.page.locator("#text").fill(by_state(synced["manifest"], "revoked")["qr_text"])
        phone.page.locator("#text").press("Enter")
        assert phone.verdict()["state"] == "revoked"
        assert "手机时钟早于数据时间" in phone.page.locator("#verdict").inner_text()
        assert phone.problems == []
    finally:
        phone.close()
