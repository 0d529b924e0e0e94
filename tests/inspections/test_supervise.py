"""The supervisors' pages: sign-in and session, what they list and in which order, filters, a certificate's
history, one inspection with its photo, CSV export; CSRF and masking."""

from __future__ import annotations

import csv
import io

import pytest

from verify_api.inspections.export import cell
from verify_api.inspections.pages import CHINA, COOKIE
from verify_api.store.tokens import Role

from .conftest import bearer, by_state, jpeg, make_token, record

SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def uploaded(client, manifest, inspector, clock) -> dict[str, dict]:
    """A valid check, a revoked certificate shown valid offline (flagged), one with a photo and a position."""
    valid, revoked = by_state(manifest, "valid"), by_state(manifest, "revoked")[0]
    items = {"plain": record(valid[0]["qr_text"], clock, note="=HYPERLINK(\"http://x\") 13912345678"),
             "flagged": record(revoked["qr_text"], clock, state="valid"),
             "photo": record(valid[1]["qr_text"], clock, photo=jpeg((160, 120)),
                             location={"lat": 41.796, "lon": 123.451, "accuracy_m": 6})}
    clock.advance(minutes=5)
    items["newest"] = record(valid[2]["qr_text"], clock)
    response = client.post("/api/v1/inspections", json={"inspections": list(items.values())}, headers=bearer(inspector))
    assert [r["outcome"] for r in response.get_json()["results"]] == ["stored"] * 4
    return items


def sign_in(client, token: str, headers=SAME_SITE):
    return client.post("/supervise/signin", data={"token": token}, headers=headers)


def csrf_of(client) -> str:
    page = client.get("/supervise/").get_data(as_text=True)
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_sign_in_sets_a_strict_http_only_session_cookie_not_the_token(client, supervisor, uploaded):
    assert client.get("/supervise/").headers["Location"].endswith("/supervise/signin")
    response = sign_in(client, supervisor)
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie and "Path=/supervise" in cookie
    assert supervisor not in cookie and supervisor.split("_", 2)[2] not in cookie  # the secret may hold "_" itself
    page = client.get("/supervise/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "检查记录" in page.get_data(as_text=True)


def test_only_supervisors_sign_in_and_only_from_this_site(client, store, clock, inspector, supervisor):
    assert sign_in(client, inspector).status_code == 401
    assert sign_in(client, "crv_000000000000_" + "x" * 43).status_code == 401
    assert "令牌无效" in sign_in(client, "nonsense").get_data(as_text=True)
    assert sign_in(client, supervisor, {"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert sign_in(client, supervisor, {"Origin": "https://evil.example"}).status_code == 403


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client, supervisor, uploaded):
    sign_in(client, supervisor)
    assert client.post("/supervise/signout", data={"csrf": "wrong"}, headers=SAME_SITE).status_code == 403
    assert client.get("/supervise/").status_code == 200
    assert client.post("/supervise/signout", data={"csrf": csrf_of(client)}, headers=SAME_SITE).status_code == 303
    assert client.get("/supervise/").status_code == 303


def test_revoking_the_token_or_the_clock_ends_its_sessions(client, store, clock, uploaded):
    token_id, token = store.create_token("21", clock.now, role=Role.SUPERVISOR, expires_at=clock.now + clock_days(30))
    sign_in(client, token)
    assert client.get("/supervise/").status_code == 200
    clock.advance(hours=9)  # sessions last eight hours
    assert client.get("/supervise/").status_code == 303
    sign_in(client, token)
    store.revoke_token(token_id, clock.now)
    assert client.get("/supervise/").status_code == 303


def clock_days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


def test_the_list_puts_flagged_first_then_newest_and_filters(client, supervisor, uploaded, manifest):
    sign_in(client, supervisor)
    page = client.get("/supervise/").get_data(as_text=True)
    order = [page.index(uploaded[k]["id"]) for k in ("flagged", "newest", "plain")]
    assert order == sorted(order)
    flagged_only = client.get("/supervise/?flag=status_changed").get_data(as_text=True)
    assert uploaded["flagged"]["id"] in flagged_only and uploaded["plain"]["id"] not in flagged_only
    regno = by_state(manifest, "valid")[1]["registration_no"]
    one = client.get("/supervise/", query_string={"certificate": regno}).get_data(as_text=True)
    assert uploaded["photo"]["id"] in one and uploaded["plain"]["id"] not in one
    assert uploaded["plain"]["id"] not in client.get("/supervise/?region=2102").get_data(as_text=True)
    assert "张*" in page and "张三" not in page
    history = client.get(f"/supervise/certificate/{regno}").get_data(as_text=True)
    assert uploaded["photo"]["id"] in history and uploaded["plain"]["id"] not in history


def test_one_inspection_with_photo_and_position(client, supervisor, uploaded):
    sign_in(client, supervisor)
    item = uploaded["photo"]
    page = client.get(f"/supervise/inspection/{item['id']}").get_data(as_text=True)
    assert "41.796000, 123.451000" in page and "± 6 m" in page
    photo = client.get(f"/supervise/inspection/{item['id']}/photo.jpg")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg" and photo.data.startswith(b"\xff\xd8")
    flagged = client.get(f"/supervise/inspection/{uploaded['flagged']['id']}").get_data(as_text=True)
    assert "现场显示的状态与登记库当前状态不同" in flagged
    assert client.get("/supervise/inspection/00000000-0000-4000-8000-000000000000").status_code == 404


def test_another_regions_supervisor_sees_none_of_it(client, store, clock, uploaded):
    sign_in(client, make_token(store, Role.SUPERVISOR, "2102", clock=clock))  # the uploads are region 21's
    assert uploaded["plain"]["id"] not in client.get("/supervise/").get_data(as_text=True)
    assert client.get(f"/supervise/inspection/{uploaded['photo']['id']}").status_code == 404
    assert client.get(f"/supervise/inspection/{uploaded['photo']['id']}/photo.jpg").status_code == 404


def test_csv_export_neutralises_formulas_and_masks_people(client, store, clock, supervisor, uploaded):
    sign_in(client, supervisor)
    response = client.get("/supervise/export.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 4
    plain = next(r for r in rows if r["id"] == uploaded["plain"]["id"])
    assert plain["note"].startswith("'=HYPERLINK") and "139****5678" in plain["note"]
    assert plain["inspector"] == "张*"
    assert next(r for r in rows if r["id"] == uploaded["flagged"]["id"])["flags"] == "status_changed"
    client.post("/supervise/signout", data={"csrf": csrf_of(client)}, headers=SAME_SITE)
    sign_in(client, make_token(store, Role.SUPERVISOR, "21", clock=clock, personal_data=True))
    rows = list(csv.DictReader(io.StringIO(client.get("/supervise/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert {r["inspector"] for r in rows} == {"张三"} and any("13912345678" in r["note"] for r in rows)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "＝1"])
def test_every_formula_start_is_neutralised(text):
    assert cell(text) == "'" + text
    assert cell("沈阳 =1") == "沈阳 =1" and cell(None) == "" and cell(3.5) == "3.5"


def test_the_session_cookie_is_only_the_session(client, supervisor, redis_client, uploaded):
    sign_in(client, supervisor)
    sid = client.get_cookie(COOKIE, path="/supervise").value
    assert not any(sid.encode() in k for k in redis_client.keys("*"))  # stored hashed


def test_guessing_at_the_sign_in_is_rate_limited(client, supervisor):
    statuses = [sign_in(client, "crv_000000000000_" + "x" * 43).status_code for _ in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_filters_by_issuer_inspector_and_date(client, store, clock, supervisor, uploaded, manifest):
    sign_in(client, supervisor)
    everything = client.get("/supervise/").get_data(as_text=True)
    assert all(item["id"] in everything for item in uploaded.values())
    shenyang_only = client.get("/supervise/?issuer=2101").get_data(as_text=True)
    for item in uploaded.values():
        issuer_is_shenyang = item["qr"] in {c.get("qr_text") for c in manifest["certificates"]
                                            if c["registration_no"].startswith("辽A")}
        assert (item["id"] in shenyang_only) == issuer_is_shenyang
    assert "没有符合条件" in client.get("/supervise/?inspector=nobody").get_data(as_text=True)
    today = clock.now.astimezone(CHINA).date()
    assert uploaded["plain"]["id"] in client.get(f"/supervise/?from={today}&to={today}").get_data(as_text=True)
    tomorrow = today.fromordinal(today.toordinal() + 1)
    assert uploaded["plain"]["id"] not in client.get(f"/supervise/?from={tomorrow}").get_data(as_text=True)
    assert uploaded["plain"]["id"] not in client.get(f"/supervise/?to={today.fromordinal(today.toordinal() - 1)}"
                                                     ).get_data(as_text=True)


def test_without_personal_data_the_inspector_filter_matches_the_token_id_not_the_name(client, store, clock, uploaded,
                                                                                    inspector):
    sign_in(client, make_token(store, Role.SUPERVISOR, "21", clock=clock))
    token_id = inspector.split("_")[1]
    assert "没有符合条件" in client.get("/supervise/", query_string={"inspector": "张三"}).get_data(as_text=True)
    by_id = client.get("/supervise/", query_string={"inspector": token_id}).get_data(as_text=True)
    assert all(item["id"] in by_id for item in uploaded.values())
    client.post("/supervise/signout", data={"csrf": csrf_of(client)}, headers=SAME_SITE)
    sign_in(client, make_token(store, Role.SUPERVISOR, "21", clock=clock, personal_data=True))
    by_name = client.get("/supervise/", query_string={"inspector": "张三"}).get_data(as_text=True)
    assert all(item["id"] in by_name for item in uploaded.values())


@pytest.mark.parametrize(("public_url", "secure"), [("http://192.168.1.20:8000", True), ("http://verify.example.cn", True),
                                                    ("http://127.0.0.1:8000", False), ("http://localhost:8000", False)])
def test_the_session_cookie_is_secure_unless_the_service_is_only_on_this_machine(config, store, clock, public_url,
                                                                                 secure):
    # Behind nginx terminating TLS the request reaches the service as plain HTTP: the cookie must still be Secure.
    from verify_api import create_app

    client = create_app(config.with_(public_url=public_url)).test_client()
    cookie = sign_in(client, make_token(store, Role.SUPERVISOR, "21", clock=clock)).headers["Set-Cookie"]
    assert ("Secure" in cookie) is secure


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(client, supervisor, uploaded):
    sign_in(client, supervisor)
    assert client.post("/supervise/signout", data={"csrf": "令牌"}, headers=SAME_SITE).status_code == 403
    assert client.get("/supervise/").status_code == 200
