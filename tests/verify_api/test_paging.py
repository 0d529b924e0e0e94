"""Every list read in order takes `since` and `limit` by one rule (verify_api/paging.py) and answers a bad
value with the same 400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from verify_api.paging import is_cursor
from verify_api.store.tokens import Role

ID_MAX = 2**64 - 1


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_paged_route_refuses_a_bad_since_and_limit_alike(client, store, token):
    now = datetime.now(UTC)
    supervisor = store.create_token("21", now, role=Role.SUPERVISOR, expires_at=now + timedelta(days=1))[1]
    routes = {"/api/v1/status-feed": {}, "/api/v1/inspections": _bearer(supervisor),
              "/api/v1/issuer/audit": _bearer(token), "/api/v1/issuer/refusals": _bearer(token)}
    cursors = {path: client.get(path, query_string={"since": "1-x"}, headers=headers) for path, headers in routes.items()}
    assert {r.status_code for r in cursors.values()} == {400}
    assert len({r.get_data() for r in cursors.values()}) == 1
    assert cursors["/api/v1/status-feed"].get_json()["code"] == "bad_cursor"
    limits = [client.get(path, query_string={"limit": "ten"}, headers=routes[path])
              for path in ("/api/v1/status-feed", "/api/v1/inspections")]
    assert [r.status_code for r in limits] == [400, 400] and limits[0].get_data() == limits[1].get_data()
    assert limits[0].get_json()["message"].startswith("limit 必须是整数")


@given(st.integers(0, ID_MAX), st.integers(0, ID_MAX))
def test_every_stream_id_below_the_last_is_a_cursor(ms, seq):
    assert is_cursor(f"{ms}-{seq}") is ((ms, seq) != (ID_MAX, ID_MAX))


@given(st.text(max_size=45))
def test_a_cursor_is_ascii_digits_and_one_dash(text):
    if is_cursor(text):
        assert text == "0" or (text.isascii() and text.count("-") == 1 and text.replace("-", "").isdigit())
