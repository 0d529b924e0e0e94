"""The supervisors' pages in a real headless Chromium over real HTTP: sign in, list, filter, one inspection
with its photo, a certificate's history, export, sign out. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.http_stub import serve_app
from verify_api.config import Config

from .conftest import bearer, by_state, jpeg, record

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def config(data_dir, redis_url, clock) -> Config:
    # plain HTTP on loopback: the cookie cannot be Secure here (it is wherever the service is HTTPS)
    return Config(data_dir=data_dir, redis_url=redis_url, public_url="http://127.0.0.1", rate_limit=None, now=clock,
                  redis_timeout=5.0, status_cache_s=0)  # see tests/inspections/conftest.py


@pytest.fixture
def live_url(app):
    with serve_app(app) as url:
        yield url


@pytest.fixture
def desk():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        yield context, page, problems
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_supervisor_works_through_the_pages(desk, live_url, client, manifest, inspector, supervisor, clock):
    valid, revoked = by_state(manifest, "valid"), by_state(manifest, "revoked")[0]
    photo = record(valid[1]["qr_text"], clock, photo=jpeg((320, 240)), note="塔吊基础有积水",
                   location={"lat": 41.796, "lon": 123.451, "accuracy_m": 6})
    flagged = record(revoked["qr_text"], clock, state="valid")
    batch = [record(c["qr_text"], clock) for c in valid[2:8]] + [photo, flagged]
    assert client.post("/api/v1/inspections", json={"inspections": batch}, headers=bearer(inspector)).status_code == 200
    context, page, problems = desk

    page.goto(live_url + "/supervise/")
    assert page.url.endswith("/supervise/signin")
    shot(page, "supervise-signin.png")
    page.fill("#token", "crv_000000000000_" + "x" * 43)
    page.click("button[type=submit]")
    assert page.locator(".problem").is_visible()
    assert problems == ["Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"]
    problems.clear()  # the refused sign-in's own status, which is its answer
    page.fill("#token", supervisor)
    page.click("button[type=submit]")
    assert page.url.endswith("/supervise/")
    [cookie] = [c for c in context.cookies() if c["name"] == "crane_supervise"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] not in supervisor

    rows = page.locator("table.inspections tbody tr")
    assert rows.count() == 8
    assert "flagged" in rows.first.get_attribute("class")  # flagged first
    assert "已撤销" in rows.first.inner_text() and "status_changed" in rows.first.inner_text()
    shot(page, "supervise-list.png")

    page.select_option("select[name=flag]", "status_changed")
    page.click("form.filters button")
    assert rows.count() == 1
    shot(page, "supervise-filtered.png")

    page.goto(live_url + f"/supervise/inspection/{photo['id']}")
    image = page.locator("img.photo")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 320
    assert "41.796000, 123.451000" in page.locator(".position").inner_text()
    assert "塔吊基础有积水" in page.content()
    shot(page, "supervise-inspection.png")

    page.click(f"text={valid[1]['registration_no']}")
    assert "/supervise/certificate/" in page.url and page.locator("table.inspections tbody tr").count() == 1
    shot(page, "supervise-certificate.png")

    with page.expect_download() as download:
        page.click("a.export")
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.startswith("id,checked_at") and photo["id"] in text

    page.click("form.signout button")
    assert page.url.endswith("/supervise/signin")
    page.goto(live_url + "/supervise/")
    assert page.url.endswith("/supervise/signin")
    assert problems == []
