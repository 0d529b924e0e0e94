"""The phone app in headless Chromium, its fake camera showing a demo QR code, the service online.

Each test launches a phone on a fresh persistent profile; the camera file shows the code the test is about.
What the inspector reads (the verdict's words) and what tests and assistive technology read (#verdict's
data-state, data-signature, data-mode, data-final) are both checked.
"""

from __future__ import annotations

import pytest

from .conftest import by_state, tampered

pytestmark = pytest.mark.browser



def assert_verdict_on_first_screen(page) -> None:
    box = page.locator("#verdict").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_valid_code_from_the_camera(service, launch):
    cert = by_state(service.manifest(), "valid")
    phone = launch(cert["qr_text"])
    response = phone.open(service.url)
    assert "'wasm-unsafe-eval'" in response.headers["content-security-policy"]
    verdict = phone.verdict()
    assert verdict["state"] == "valid" and verdict["signature"] == "valid" and verdict["mode"] == "online"
    assert verdict["word"] == "有效"
    page = phone.page
    assert page.locator("#verdict").get_attribute("role") == "status"
    assert page.locator("#verdict svg[data-icon=check]").is_visible()
    # the two numbers of the crane's plate, large, each with its own buttons
    assert page.locator(".plate .key[data-field=record_no] dd").inner_text() == cert["record_no"]
    assert page.locator(".plate .key[data-field=factory_serial] dd").is_visible()
    assert_verdict_on_first_screen(page)
    phone.shot("scan-valid.png")
    # the fake camera offers no torch and no zoom: their controls stay hidden, scanning went on regardless
    assert page.locator("#torch").is_hidden()
    assert page.locator("#zoom-control").is_hidden()
    # a plate that says otherwise turns the verdict to ✖
    page.locator(".plate .key[data-field=record_no] button.no").click()
    assert page.locator("#verdict .word").inner_text() == "与铭牌不一致"
    assert page.locator("#verdict").get_attribute("data-ok") == "false"
    assert page.locator("#verdict svg[data-icon=cross]").is_visible()
    phone.shot("scan-plate-mismatch.png")
    page.locator(".plate .key[data-field=record_no] button.no").click()  # undone: valid again
    assert page.locator("#verdict .word").inner_text() == "有效"
    # back to the camera: the code just answered, still in view, is not announced again
    page.locator("#scan-next").click()
    page.wait_for_selector("#viewfinder[data-camera=live]")
    page.wait_for_timeout(1500)  # several frames decoded with the same code in view
    assert page.locator("#result").is_hidden()
    phone.shot("scan-camera.png")
    # Hidden (another app in front), the page gives the camera back; shown again, it takes it again.
    hide = """hidden => { Object.defineProperty(document, "visibilityState", {value: hidden ? "hidden" : "visible",
                configurable: true}); document.dispatchEvent(new Event("visibilitychange")); }"""
    page.evaluate(hide, True)
    page.wait_for_selector("#viewfinder[data-camera=off]")
    assert page.evaluate("document.querySelector('#video').srcObject === null")
    page.evaluate(hide, False)
    page.wait_for_selector("#viewfinder[data-camera=live]")
    assert page.evaluate("document.querySelector('#video').srcObject.getVideoTracks()[0].readyState") == "live"
    assert phone.problems == []


@pytest.mark.parametrize(("state", "word"), [("ended", "已终止"), ("revoked", "已撤销"),
                                             ("superseded", "已被新版本替代")])
def test_ended_revoked_superseded(service, launch, state, word):
    phone = launch(by_state(service.manifest(), state)["qr_text"])
    phone.open(service.url)
    verdict = phone.verdict()
    assert (verdict["state"], verdict["signature"], verdict["mode"], verdict["word"]) == (state, "valid", "online", word)
    assert phone.page.locator("#verdict svg[data-icon=cross]").is_visible()
    assert_verdict_on_first_screen(phone.page)
    phone.shot(f"scan-{state}.png")
    assert phone.problems == []


def test_one_character_changed_reads_signature_invalid_even_if_the_network_says_valid(service, launch):
    genuine = by_state(service.manifest(), "valid")["qr_text"]
    changed = tampered(service, genuine)
    phone = launch(changed)
    phone.open(service.url)
    verdict = phone.verdict()
    assert verdict["signature"] == "invalid" and verdict["word"] == "签名无效"
    assert verdict["ok"] == "false"
    assert_verdict_on_first_screen(phone.page)
    phone.shot("scan-invalid.png")
    # The registry's status wins, but a signature this phone proves bad is not taken as good from the network:
    # here a network that answers every code with the genuine code's answer.
    _, _, body = service.post("/api/v1/verify", {"qr": genuine})
    phone.page.route("**/api/v1/verify", lambda route: route.fulfill(
        status=200, content_type="application/json", body=body))
    phone.page.locator("#text").fill(changed)
    phone.page.locator("#text").press("Enter")
    verdict = phone.verdict()
    assert (verdict["signature"], verdict["mode"], verdict["ok"]) == ("invalid", "online", "false")
    assert verdict["word"] == "签名无效"
    assert "以本机结果为准" in phone.page.locator("#result").inner_text()
    assert phone.problems == []


def test_a_feed_page_changed_on_the_way_is_refused(service, launch):
    """Every page's signature is checked before anything of it is stored: a changed page leaves no data."""
    phone = launch(by_state(service.manifest(), "valid")["qr_text"])

    def changed(route) -> None:
        response = route.fetch()
        document = response.json()
        document["page"]["entries"][0]["state"] = "revoked"
        route.fulfill(response=response, json=document)

    phone.context.route("**/api/v1/status-feed*", changed)
    phone.open(service.url)
    assert phone.verdict()["mode"] == "online"  # the service still answers checks
    phone.page.wait_for_selector("#sync-message:has-text('同步失败')", timeout=30_000)
    assert "signature does not check" in phone.page.locator("#sync-message").inner_text()
    assert phone.page.locator("html").get_attribute("data-offline-ready") == "false"
    assert "尚未同步" in phone.page.locator("#data-panel").inner_text()
    assert phone.problems == []


def test_a_code_that_is_not_ours(service, launch):
    phone = launch("HTTPS://EXAMPLE.COM/HELLO")
    phone.open(service.url)
    verdict = phone.verdict()
    assert verdict["signature"] == "malformed" and verdict["state"] == "unknown" and verdict["word"] == "无法识别"
    phone.shot("scan-not-ours.png")
    assert phone.problems == []


def test_typed_text_and_lookup_by_numbers(service, launch):
    manifest = service.manifest()
    phone = launch(by_state(manifest, "valid")["qr_text"])
    page = phone.page
    phone.open(service.url)
    phone.verdict()
    # a photo from the gallery, decoded on the phone
    page.locator("#photo").set_input_files(by_state(manifest, "ended")["qr_png"])
    assert phone.verdict()["state"] == "ended"
    # a hardware scanner types the text and Enter
    page.locator("#text").fill(by_state(manifest, "revoked")["qr_text"])
    page.locator("#text").press("Enter")
    assert phone.verdict()["state"] == "revoked"
    # a paper certificate, by its two numbers
    paper = next(c for c in manifest["certificates"] if c["expected_status"] == "paper_legacy")
    page.locator("#registration_no").fill(paper["registration_no"])
    page.locator("#record_no").fill(paper["record_no"])
    page.locator("#lookup-form button[type=submit]").click()
    verdict = phone.verdict()
    assert (verdict["state"], verdict["signature"], verdict["mode"]) == ("paper_legacy", "not_applicable", "online")
    assert verdict["word"] == "纸质证书"
    phone.shot("scan-lookup-paper.png")
    # numbers that do not belong together are not found, whichever is wrong
    page.locator("#record_no").fill("辽A-T-99999")
    page.locator("#lookup-form button[type=submit]").click()
    assert phone.verdict()["state"] == "not_found"
    assert phone.problems == []


def test_installable_ready_offline_and_a_new_version_announces_itself(service, dist, launch):
    phone = launch(by_state(service.manifest(), "valid")["qr_text"])
    phone.open(service.url)
    phone.verdict()
    phone.offline_ready()  # trust list and feed synced, worker active with the shell and decoder cached
    cdp = phone.context.new_cdp_session(phone.page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    assert phone.page.evaluate("navigator.serviceWorker.controller !== null")  # claimed on the first load
    panel = phone.page.locator("#data-panel").inner_text()
    assert "第 1 号" in panel and "沈阳市城乡建设局" in panel
    phone.shot("scan-full-page.png", full_page=True)
    worker = dist / "sw.js"
    published = worker.read_bytes()
    try:
        worker.write_bytes(published + b"\n// the next version\n")
        phone.page.reload()  # the browser checks the worker at a navigation; the new one takes over
        phone.page.wait_for_selector("#update", state="visible", timeout=30_000)
        assert "新版本" in phone.page.locator("#update").inner_text()
        phone.shot("scan-new-version.png")
        with phone.page.expect_navigation():
            phone.page.locator("#update-reload").click()
        assert phone.page.locator("#update").is_hidden()
        assert phone.verdict()["state"] == "valid"
    finally:
        worker.write_bytes(published)
    assert phone.problems == []
