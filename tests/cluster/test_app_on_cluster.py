"""REDIS_URL=redis+cluster://... selects cluster mode for every part of the app, rate limits included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from limits.storage import RedisClusterStorage

from devtools.cluster import LocalCluster
from verify_api import create_app, demo
from verify_api.config import Config
from verify_api.store import Store, StoreUnavailable, cluster_nodes, is_cluster_url


def test_the_demo_and_the_rate_limits_run_on_the_cluster(local_cluster: LocalCluster, demo_data_dir: Path) -> None:
    data_dir = demo_data_dir
    config = Config(data_dir=data_dir, redis_url=local_cluster.url, public_url="https://verify.example.cn",
                    rate_limit="5/minute", redis_replicas=1)
    app = create_app(config)
    services = app.extensions["crane"]
    assert is_cluster_url(services.store.url) and services.store.transport.replicas == 1
    manifest = json.loads(demo.build(services.store, data_dir, config.public_url, datetime.now(UTC))[0]
                          .read_text("utf-8"))
    client = app.test_client()
    for index, cert in enumerate(c for c in manifest["certificates"] if c.get("qr_text")):
        # each from an address of its own, so the limit below is the only one reached
        answer = client.post("/api/v1/verify", json={"qr": cert["qr_text"]},
                             environ_base={"REMOTE_ADDR": f"198.51.100.{index + 1}"}).get_json()
        assert answer["status"]["state"] == cert["expected_status"], cert
        assert answer["status"]["source"] == "registry"
    assert client.get("/readyz").status_code == 200

    limiter = services.limiter
    assert isinstance(limiter.storage, RedisClusterStorage)
    codes = [client.get("/api/v1/verify?qr=HELLO", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
             for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert not limiter._storage_dead  # counted in the cluster, not in the in-memory fallback
    keys = [key for node in local_cluster.primaries() for key in local_cluster.node_client(node).keys("LIMITS:*")]
    assert any("203.0.113.9" in key for key in keys), keys
    services.store.client.close()


def test_cluster_urls_name_every_startup_node_and_the_credentials() -> None:
    assert cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/") == (
        [("10.0.0.1", 7000), ("10.0.0.2", 7001)], {})
    assert cluster_nodes("redis+cluster://crane:s3cret@redis-a:6379,redis-b") == (
        [("redis-a", 6379), ("redis-b", 6379)], {"username": "crane", "password": "s3cret"})
    assert cluster_nodes("redis+cluster://:pw@[::1]:7000") == ([("::1", 7000)], {"password": "pw"})
    assert is_cluster_url("redis+cluster://h:1") and not is_cluster_url("redis://h:1")


def test_a_store_on_an_unreachable_cluster_is_unavailable_not_broken() -> None:
    store = Store("redis+cluster://127.0.0.1:1", timeout=0.5)  # nothing listens on port 1
    assert store.ping() is False
    with pytest.raises(StoreUnavailable):
        store.get("辽A-SY-2024-00001")


def test_the_cli_commands_run_on_the_cluster(local_cluster: LocalCluster, demo_data_dir: Path) -> None:
    import io
    import random

    from keys.cli_env import Environment, ExitStatus
    from keys.payload import issue
    from keys.record import Record
    from keys.samples import CITIES, sample_record
    from verify_api.cli import main

    data_dir = demo_data_dir
    keys = demo.ensure_keys(data_dir)

    def run(*args: str) -> list[str]:
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdout=out, stderr=err, stdout_isatty=False, vars={
            "REDIS_URL": local_cluster.url, "CRANE_DATA_DIR": str(data_dir), "CRANE_REDIS_REPLICAS": "1"})
        assert main(list(args), env) == ExitStatus.OK, err.getvalue()
        return out.getvalue().splitlines()

    lines = []
    for i in range(60):  # spread over the three masters
        city = CITIES[i % 3]
        raw = sample_record(random.Random(i), 7000 + i, city=city)
        text = issue(Record.from_json(raw), keys.issuers[city.code], "https://v.example.cn",
                     datetime(2025, 5, 1, 2, tzinfo=UTC))
        lines.append(json.dumps({"record": raw, "qr_text": text}, ensure_ascii=False))
    path = data_dir.parent / "in.jsonl"
    path.write_text("\n".join(lines), "utf-8")
    assert run("import", str(path))[-1] == "imported 60, already present 0, rejected 0"
    assert run("import", str(path))[-1] == "imported 0, already present 60, rejected 0"
    reg = json.loads(lines[4])["record"]["registration_no"]
    assert run("status", reg, "suspended", "--reason", "检查")[-1].endswith("valid -> suspended")
    token_id = run("token", "create", "--issuer", "210100")[0].split()[1]
    assert run("token", "revoke", token_id)[-1] == f"token {token_id} revoked"
    store = Store(local_cluster.url, timeout=2.0)
    assert len(store.feed(count=1000)) == 61
    assert [e.action for e in store.audit(count=1000)][-3:] == ["status", "token:create", "token:revoke"]
    store.client.close()
