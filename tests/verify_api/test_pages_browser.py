"""The public pages in a real headless Chromium at a phone's size, over real HTTP.

Screenshots land in test-artifacts/ at the repository root (git-ignored) for a person to look at.
"""

import os
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE
from tests.http_stub import serve_app

from .conftest import by_state

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def live_url(app, manifest):
    """The app served over real HTTP on a free port, shut down after the test."""
    with serve_app(app) as url:
        yield url


class Phone:
    """A phone-sized page that records every console error, page error and CSP violation."""

    def __init__(self, browser, javascript: bool = True):
        self.javascript = javascript
        self.context = browser.new_context(**PHONE, java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.found: list[str] = []
        self.answered_4xx: set[str] = set()  # pages whose own status is the answer (a lookup's 404)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.found.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda req: self.found.append(f"request failed: {req.url}"))
        self.page.on("response", self._response)

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning"):
            self.found.append((msg.location.get("url", ""), f"console {msg.type}: {msg.text}"))

    def _response(self, resp) -> None:
        if resp.status >= 400:
            if resp.request.resource_type == "document":
                self.answered_4xx.add(resp.url)
            else:
                self.found.append(f"HTTP {resp.status}: {resp.url}")

    @property
    def problems(self) -> list[str]:
        """Everything that went wrong, but a page's own 4xx status when that status is its answer."""
        out = []
        for item in self.found:
            if isinstance(item, tuple):
                url, text = item
                if url in self.answered_4xx and text.startswith("console error: Failed to load resource"):
                    continue
                item = f"{text} ({url})"
            out.append(item)
        return out

    def open(self, url: str):
        response = self.page.goto(url, wait_until="load")
        if self.javascript:
            self.page.evaluate("document.fonts.ready")  # screenshots with the CJK font, not a fallback
        return response

    def close(self):
        self.context.close()


@pytest.fixture
def phone(browser):
    opened: list[Phone] = []

    def make(javascript: bool = True) -> Phone:
        device = Phone(browser, javascript)
        opened.append(device)
        return device

    yield make
    for device in opened:
        device.close()


def shot(page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def assert_verdict_on_first_screen(page) -> None:
    verdict = page.locator("section.verdict[role=status]")
    assert verdict.count() == 1
    box = verdict.bounding_box()
    viewport = page.viewport_size
    assert box is not None and box["width"] > 0
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], box
    assert 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"], box
    # nothing above it but the slim site header
    assert box["y"] < 120, box


def assert_within_first_screen(page, locator) -> None:
    box = locator.bounding_box()
    assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"], box


def assert_no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_valid_certificate_on_a_phone(phone, live_url, manifest):
    cert = by_state(manifest, "valid")[0]
    device = phone()
    page = device.page
    response = device.open(live_url + "/V/" + cert["qr_text"].rsplit("/", 1)[1])
    assert response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    headline = page.locator("section.verdict h1 .word")
    assert headline.inner_text() == "有效"
    assert headline.is_visible()
    assert page.locator("section.verdict svg.icon[data-icon=check]").is_visible()
    record_no = page.locator(".plate .keys dd").first
    assert record_no.inner_text() == cert["record_no"]
    assert_verdict_on_first_screen(page)
    # the two numbers to compare with the plate are on the first screen too
    assert_within_first_screen(page, page.locator(".plate .keys dd").nth(1))
    assert_no_sideways_scroll(page)
    # the stylesheet applied: the verdict is white on a dark green, not default black on white
    colours = page.locator("section.verdict").evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert colours == ["rgb(255, 255, 255)", "rgb(11, 107, 48)"], colours
    # CJK text is drawn with a CJK font: the headline is wider than a missing-glyph box pair would allow
    assert headline.bounding_box()["width"] > 60
    shot(page, "page-valid.png")
    shot(page, "page-valid-full.png", full_page=True)
    assert device.problems == []


def test_ended_certificate_on_a_phone(phone, live_url, manifest):
    cert = by_state(manifest, "ended")[0]
    device = phone()
    page = device.page
    assert device.open(live_url + "/V/" + cert["qr_text"].rsplit("/", 1)[1]).status == 200
    assert page.locator("section.verdict h1 .word").inner_text() == "已终止"
    assert page.locator("section.verdict svg.icon[data-icon=cross]").is_visible()
    assert "证书已终止" in page.locator("section.verdict").inner_text()
    assert_verdict_on_first_screen(page)
    assert_no_sideways_scroll(page)
    shot(page, "page-ended.png")
    assert device.problems == []


@pytest.mark.parametrize("state", ["superseded", "revoked", "suspended"])
def test_other_states_on_a_phone(phone, live_url, manifest, state):
    words = {"superseded": "本版本已被替换", "revoked": "已撤销", "suspended": "已暂扣"}
    cert = next(c for c in by_state(manifest, state) if c["version"] == 1)
    device = phone()
    page = device.page
    device.open(live_url + "/V/" + cert["qr_text"].rsplit("/", 1)[1])
    assert page.locator("section.verdict h1 .word").inner_text() == words[state]
    assert_verdict_on_first_screen(page)
    assert_no_sideways_scroll(page)
    shot(page, f"page-{state}.png")
    assert device.problems == []


def test_refused_certificates_say_what_to_do_on_a_phone(phone, live_url, manifest):
    """Issue 11, point 8: what to do and whom to call, readable at 390 px; technical words kept under details.
    One page per state in one test: the demo data is set up once."""
    for state in ("revoked", "suspended", "ended", "superseded"):
        cert = next(c for c in by_state(manifest, state) if c["version"] == 1)
        device = phone()
        page = device.page
        device.open(live_url + "/V/" + cert["qr_text"].rsplit("/", 1)[1])
        advice = page.locator("section.advice")
        assert advice.is_visible() and "怎么办" in advice.inner_text() and "What to do" in advice.inner_text()
        assert "请不要" in advice.inner_text() or "作废" in advice.inner_text()
        assert page.locator("section.advice .authority").is_visible(), "the authority and its contact"
        assert "电话" in advice.inner_text() and "example.cn" in advice.inner_text()
        if state == "superseded":
            assert page.locator("section.verdict .newer a").is_visible()
        assert_verdict_on_first_screen(page)
        assert_no_sideways_scroll(page)
        shot(page, f"page-{state}-what-to-do.png", full_page=True)
        assert not page.get_by_text("EdDSA", exact=True).is_visible(), "the algorithm waits under details"
        page.locator("details.technical summary").click()
        assert page.get_by_text("EdDSA", exact=True).is_visible()
        assert device.problems == [], state


def test_not_ours_and_tampered_on_a_phone(phone, live_url, manifest):
    device = phone()
    page = device.page
    device.open(live_url + "/V/HELLOWORLD")
    assert page.locator("section.verdict h1 .word").inner_text() == "无法识别"
    assert_verdict_on_first_screen(page)
    shot(page, "page-not-recognised.png")
    text = by_state(manifest, "valid")[0]["qr_text"].rsplit("/", 1)[1]
    for position in range(len(text) - 30, len(text) - 1):
        changed = text[:position] + ("B" if text[position] == "A" else "A") + text[position + 1:]
        device.open(live_url + "/V/" + changed)
        if page.locator("section.verdict h1 .word").inner_text() == "签名无效":
            break
    else:
        pytest.fail("no single-character change read 签名无效")
    assert_verdict_on_first_screen(page)
    shot(page, "page-invalid.png")
    assert device.problems == []


def test_lookup_form_without_javascript(phone, live_url, manifest):
    """A plain HTML form GET: no JavaScript runs on these pages, and none is needed."""
    paper = by_state(manifest, "paper_legacy")[0]
    device = phone(javascript=False)
    page = device.page
    assert device.open(live_url + "/").status == 200
    assert page.locator("h1").first.is_visible()
    assert page.locator("form[action='/lookup']").is_visible()
    shot(page, "page-index.png")
    page.get_by_label("使用登记编号").fill(paper["registration_no"])
    page.get_by_label("产权备案编号").fill("辽A-T-99999")
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    assert "/lookup?" in page.url
    assert page.locator("section.verdict h1 .word").inner_text() == "未查询到登记信息"
    assert_verdict_on_first_screen(page)
    # what was typed is still there to correct
    assert page.get_by_label("使用登记编号").input_value() == paper["registration_no"]
    shot(page, "page-lookup-not-found.png")
    page.get_by_label("产权备案编号").fill(paper["record_no"])
    with page.expect_navigation():
        page.get_by_role("button", name="查询").click()
    assert page.locator("section.verdict h1 .word").inner_text() == "纸质证书"
    assert page.locator("section.verdict svg.icon[data-icon=warn]").is_visible()
    assert page.locator(".plate .keys dd").first.inner_text() == paper["record_no"]
    assert_verdict_on_first_screen(page)
    shot(page, "page-lookup.png")
    assert device.problems == []


def test_superseded_link_leads_to_the_version_in_force(phone, live_url, manifest):
    cert = next(c for c in by_state(manifest, "superseded") if c["version"] == 1)
    device = phone(javascript=False)
    page = device.page
    device.open(live_url + "/V/" + cert["qr_text"].rsplit("/", 1)[1])
    with page.expect_navigation():
        page.locator("section.verdict .newer a").click()
    assert page.locator("section.verdict h1 .word").inner_text() == "有效"
    assert "第2版" in page.locator("section.verdict").inner_text()
    assert device.problems == []


def test_browser_404_is_a_page(phone, live_url):
    device = phone()
    page = device.page
    response = page.goto(live_url + "/no-such-page")
    assert response.status == 404
    assert page.locator("section.verdict h1 .word").inner_text() == "页面不存在"
    assert page.locator("form[action='/lookup']").is_visible()
    shot(page, "page-404.png")
    # the 404 of the document itself is expected; nothing else may fail
    assert device.problems == []


def test_console_listener_sees_csp_violations(phone, live_url):
    """Control: an inline style under our CSP is reported, so a clean console above means something."""
    device = phone()
    page = device.page
    csp = "default-src 'self'; style-src 'self'; script-src 'self'"
    page.route(live_url + "/control", lambda route: route.fulfill(
        status=200, content_type="text/html", headers={"Content-Security-Policy": csp},
        body="<!doctype html><p style='color:red'>x</p><style>p{color:red}</style>"))
    page.goto(live_url + "/control")
    page.wait_for_timeout(200)
    assert any("Content Security Policy" in p for p in device.problems), device.problems
