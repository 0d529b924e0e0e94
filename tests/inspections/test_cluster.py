"""The inspection records on a real Redis Cluster (3 masters, 1 replica each, writes acknowledged by a
replica): upload, retry, read back, sessions, enrolment and the purge all run there unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.cluster.conftest import local_cluster  # noqa: F401 - fixture
from verify_api import create_app, demo, keyspace
from verify_api.config import Config
from verify_api.inspections import Parts, Retention, purge
from verify_api.inspections.access import Enrolments
from verify_api.store.tokens import Role

from .conftest import PUBLIC_URL, bearer, jpeg, make_token, record


@pytest.fixture
def cluster_app(local_cluster, data_dir, clock):  # noqa: F811
    local_cluster.wait_ready(30)
    local_cluster.flushall()
    app = create_app(Config(data_dir=data_dir, redis_url=local_cluster.url, public_url=PUBLIC_URL, rate_limit=None,
                            redis_replicas=1, now=clock))
    yield app
    app.extensions["crane"].store.client.close()


def test_inspections_run_on_the_cluster(cluster_app, demo_set, clock, local_cluster):  # noqa: F811
    store = cluster_app.extensions["crane"].store
    demo.load(store, demo_set[0], clock.now)
    clock.advance(hours=1)
    client = cluster_app.test_client()
    certificates = demo_set[1]["certificates"]
    revoked = next(c for c in certificates if c["expected_status"] == "revoked")
    valid = [c for c in certificates if c["expected_status"] == "valid"]
    inspector = make_token(store, Role.INSPECTOR, "21", clock=clock)
    dalian = make_token(store, Role.INSPECTOR, "2102", clock=clock)
    batch = [record(revoked["qr_text"], clock, state="valid", photo=jpeg()),
             *(record(c["qr_text"], clock, location={"lat": 41.8, "lon": 123.4}) for c in valid[:5])]
    for expected in ("stored", "duplicate"):
        results = client.post("/api/v1/inspections", json={"inspections": batch}, headers=bearer(inspector)).get_json()
        assert [r["outcome"] for r in results["results"]] == [expected] * 6
    assert [f["code"] for f in results["results"][0]["flags"]] == ["status_changed"]
    client.post("/api/v1/inspections", json={"inspections": [record(valid[0]["qr_text"], clock)]},
                headers=bearer(dalian))
    supervisor = make_token(store, Role.SUPERVISOR, "21", clock=clock)
    page = client.get("/api/v1/inspections?limit=4", headers=bearer(supervisor)).get_json()
    rest = client.get(f"/api/v1/inspections?since={page['next']}", headers=bearer(supervisor)).get_json()
    assert len(page["inspections"]) + len(rest["inspections"]) == 7 and not rest["more"]
    # every key of a province's records hashes to one slot: the script's keys never cross slots
    slots = {store.client.keyslot(k) for k in (
        keyspace.inspection("21", batch[0]["id"]), keyspace.inspections_received("21"),
        keyspace.inspections_of("21", revoked["registration_no"]), keyspace.inspection_log("21"))}
    assert len(slots) == 1

    client.post("/supervise/signin", data={"token": supervisor}, headers={"Sec-Fetch-Site": "same-origin"})
    assert batch[0]["id"] in client.get("/supervise/").get_data(as_text=True)
    code = Enrolments(store.transport).create(inspector, clock.now)
    assert client.post("/api/v1/enrol", json={"code": code}).get_json()["token"] == inspector
    assert client.post("/api/v1/enrol", json={"code": code}).status_code == 404

    parts = Parts.of(store, cluster_app.extensions["crane"].config, Retention(timedelta(days=30), timedelta(days=10)))
    clock.advance(days=31)
    assert purge(parts, clock.now) == (7, 1)
    assert client.get("/api/v1/inspections", headers=bearer(make_token(store, Role.SUPERVISOR, "21", clock=clock))
                      ).get_json()["inspections"] == []
