"""crane-scan sync: the cache matches the registry, repeats change nothing, an interrupted sync resumes,
and the trust checks hold: a list signed by another root, an older list, a forged feed page are
refused; a cross-signed root rotation moves the pin on.

Refusals are provoked with a small HTTP server of the test's own that serves crafted documents (and
passes the status feed through from the real service where the feed itself is not under test).
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import astuple, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import PrivateKey, PublicKey
from keys.cli_env import ExitStatus
from keys.feed import sign_page
from keys.trustlist import SignedTrustList
from scanner.offline import OfflineCache
from scanner.online import ServiceClient, Unreachable
from scanner.sync import sync
from tests.http_stub import Reply, stub_server, upstream
from tests.scanner.conftest import Photo, Service, crane_scan, offline_data, pins


class Stub:
    """A server whose trust list and feed are functions the test sets (the real service's by default)."""

    def __init__(self, service: Service):
        self.url = ""
        self.trust_list: Callable[[], bytes] = lambda: upstream(service.url, "/api/v1/trust-list")
        self.feed: Callable[[str], bytes] = lambda query: upstream(service.url, "/api/v1/status-feed?" + query)

    def answer(self, _method: str, path_and_query: str, _body: bytes) -> Reply:
        path, _, query = path_and_query.partition("?")
        if path == "/api/v1/trust-list":
            return Reply(self.trust_list())
        if path == "/api/v1/status-feed":
            return Reply(self.feed(query))
        return Reply(status=404)


@pytest.fixture
def stub(service: Service) -> Iterator[Stub]:
    s = Stub(service)
    with stub_server(s.answer) as url:
        s.url = url
        yield s


def _demo_root(service: Service) -> PrivateKey:
    return PrivateKey.from_pem((service.data_dir / "keys" / "root.key.pem").read_bytes())


def _demo_list(service: Service) -> SignedTrustList:
    return SignedTrustList.loads((service.data_dir / "trust" / "trust.json").read_bytes())


def _rows(data_dir: Path) -> list[tuple]:
    """The certificates the offline data holds, as loaded and checked for a scan (nothing when it has no pages)."""
    if pins(data_dir).current() is None or not OfflineCache.in_data_dir(data_dir).exists:
        return []
    return [astuple(r) for _, r in sorted(offline_data(data_dir).rows.items())]


def _sync(data_dir: Path, server: str, root_pub: str | None = None, *extra: str):
    args = ["sync", "--server", server, *extra]
    if root_pub:
        args += ["--root-pub", root_pub]
    return crane_scan(args, data_dir)


def test_cache_holds_every_certificate_in_its_registry_state(service: Service, synced: Path) -> None:
    rows = {(r[0], r[1]): r for r in _rows(synced)}
    assert len(rows) == len(service.manifest["certificates"])
    for entry in service.manifest["certificates"]:
        row = rows[(entry["registration_no"], entry["version"])]
        assert row[2] == entry["expected_status"], entry
        assert row[6] == entry["record_no"]
        assert row[7]  # registered_at
        if entry["expected_status"] == "superseded":
            assert row[5] == entry["version"] + 1
    cache = OfflineCache.in_data_dir(synced)
    meta = cache.meta()
    assert meta["last_sync"] and meta["cursor"] != "0" and meta["server"] == service.url
    assert offline_data(synced).data_time is not None
    assert pins(synced).current() == PublicKey.from_pem(Path(service.root_pub).read_bytes())
    info = crane_scan(["info"], synced)
    assert info.status == ExitStatus.OK and f"certificate versions: {len(rows)}" in info.out


def test_sync_is_idempotent_and_takes_the_root_from_the_environment(service: Service, tmp_path: Path) -> None:
    first = crane_scan(["sync", "--server", service.url], tmp_path, env_vars={"CRANE_ROOT_PUB": service.root_pub})
    assert first.status == ExitStatus.OK, first.err
    before = _rows(tmp_path)
    again = _sync(tmp_path, service.url)  # the pin is stored: no --root-pub needed any more
    assert again.status == ExitStatus.OK, again.err
    assert "0 new entries" in again.out
    assert _rows(tmp_path) == before
    with sqlite3.connect(OfflineCache.in_data_dir(tmp_path).path) as db:
        outcomes = [r[0] for r in db.execute("SELECT outcome FROM syncs ORDER BY id")]
    assert outcomes == ["ok", "ok"]


def test_first_sync_needs_a_root(service: Service, tmp_path: Path) -> None:
    ran = _sync(tmp_path, service.url)
    assert ran.status == ExitStatus.ERROR
    assert "--root-pub" in ran.err


def test_interrupted_sync_resumes_from_its_cursor(service: Service, synced: Path, tmp_path: Path) -> None:
    asked: list[str] = []

    class Flaky(ServiceClient):
        fail_after: int | None = 2

        def feed_page(self, since: str, limit: int):
            asked.append(since)
            if self.fail_after is not None and len(asked) > self.fail_after:
                raise Unreachable("connection dropped")
            return super().feed_page(since, limit)

    cache = OfflineCache.in_data_dir(tmp_path)
    root = PublicKey.from_pem(Path(service.root_pub).read_bytes())
    client = Flaky(service.url)
    store = pins(tmp_path)
    with pytest.raises(Unreachable):
        sync(client, cache, store, root, lambda: datetime.now(UTC), page_size=10)
    partial = offline_data(tmp_path)
    assert len(partial.rows) > 0 and partial.data_time is None  # two pages kept, not yet a complete sync
    cursor = cache.meta()["cursor"]
    asked.clear()
    client.fail_after = None
    result = sync(client, cache, store, None, lambda: datetime.now(UTC), page_size=10)
    assert asked[0] == cursor  # resumed, not restarted
    assert result.pages == len(asked)
    assert offline_data(tmp_path).data_time == result.data_time
    assert _rows(tmp_path) == _rows(synced)


def test_trust_list_signed_by_another_root_is_refused(service: Service, stub: Stub, tmp_path: Path) -> None:
    intruder = PrivateKey.generate()
    forged = replace(_demo_list(service).unverified(), root=intruder.public_key(), serial=99)
    stub.trust_list = lambda: SignedTrustList.sign(forged, intruder).dumps()
    ran = _sync(tmp_path, stub.url, service.root_pub)
    assert ran.status == ExitStatus.NOT_OK
    assert "trust list refused" in ran.err and "pinned root" in ran.err
    assert pins(tmp_path).current() is None
    assert _rows(tmp_path) == []
    # A list that names the real root but carries only the intruder's signature is refused too.
    real = _demo_list(service)
    stub.trust_list = lambda: SignedTrustList.sign(real.unverified(), intruder).dumps()
    assert _sync(tmp_path, stub.url, service.root_pub).status == ExitStatus.NOT_OK


def test_root_rotation_by_cross_signature_moves_the_pin(service: Service, stub: Stub, tmp_path: Path,
                                                        site_photos: list[Photo]) -> None:
    assert _sync(tmp_path, service.url, service.root_pub).status == ExitStatus.OK
    old_root, new_root = _demo_root(service), PrivateKey.generate()
    body = _demo_list(service).unverified()
    rotated = replace(body, root=new_root.public_key(), serial=body.serial + 1)
    stub.trust_list = lambda: SignedTrustList.sign(rotated, new_root, old_root).dumps()
    ran = _sync(tmp_path, stub.url, service.root_pub)   # --root-pub still names the old root: it is history
    assert ran.status == ExitStatus.OK, ran.err
    assert f"root moved on from {old_root.public_key().kid}" in ran.out
    assert pins(tmp_path).current() == new_root.public_key()
    assert [p.root.kid for p in pins(tmp_path).history()] == [old_root.public_key().kid, new_root.public_key().kid]

    # From now on the new root alone is enough ...
    newer = replace(rotated, serial=rotated.serial + 1)
    stub.trust_list = lambda: SignedTrustList.sign(newer, new_root).dumps()
    assert _sync(tmp_path, stub.url).status == ExitStatus.OK
    # ... and the old root alone is not.
    old_again = replace(body, serial=newer.serial + 1)
    stub.trust_list = lambda: SignedTrustList.sign(old_again, old_root).dumps()
    refused = _sync(tmp_path, stub.url)
    assert refused.status == ExitStatus.NOT_OK and "pinned root" in refused.err
    # An older list, even one correctly signed, is refused.
    stub.trust_list = lambda: SignedTrustList.sign(rotated, new_root).dumps()
    older = _sync(tmp_path, stub.url)
    assert older.status == ExitStatus.NOT_OK and "older than the cached serial" in older.err
    assert pins(tmp_path).current() == new_root.public_key()
    # The cache still verifies codes.
    photo = next(p for p in site_photos if p.expected == "valid")
    [answer] = crane_scan(["--json", str(photo.path)], tmp_path).json()
    assert answer["verdict"]["ok"] is True


def test_deleting_the_data_file_does_not_let_an_older_trust_list_back(service: Service, stub: Stub,
                                                                       tmp_path: Path) -> None:
    assert _sync(tmp_path, service.url, service.root_pub).status == ExitStatus.OK
    current = _demo_list(service).unverified()
    newer = replace(current, serial=current.serial + 1)
    stub.trust_list = lambda: SignedTrustList.sign(newer, _demo_root(service)).dumps()
    assert _sync(tmp_path, stub.url).status == ExitStatus.OK
    assert pins(tmp_path).trust_serial() == newer.serial
    OfflineCache.in_data_dir(tmp_path).path.unlink()
    stub.trust_list = lambda: SignedTrustList.sign(current, _demo_root(service)).dumps()
    older = _sync(tmp_path, stub.url)
    assert older.status == ExitStatus.NOT_OK and "信任列表版本回退" in older.err
    assert f"serial {current.serial} is older than serial {newer.serial}" in older.err


def test_root_pub_naming_an_unrelated_root_is_refused(service: Service, synced: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub.pem"
    other.write_bytes(PrivateKey.generate().public_key().pem())
    ran = _sync(synced, service.url, str(other))
    assert ran.status == ExitStatus.NOT_OK
    assert "pinned to root" in ran.err


def test_feed_page_not_signed_by_a_feed_key_is_refused(service: Service, stub: Stub, tmp_path: Path) -> None:
    issuer_key = PrivateKey.from_pem((service.data_dir / "keys" / "issuer-210100.key.pem").read_bytes())
    page = {"format": 1, "since": "0", "next": "1-0", "more": False, "generated_at": "2026-11-24T00:00:00+00:00",
            "entries": [{"cursor": "1-0", "registration_no": "辽A-SY-2024-99999", "version": 1, "state": "valid",
                         "reason": "", "since": "2024-08-01T00:00:00+00:00", "superseded_by": None,
                         "record_no": "辽A-T-99999", "registered_at": "2024-08-01T00:00:00+00:00"}]}
    stub.feed = lambda query: json.dumps(sign_page(page, issuer_key)).encode()
    ran = _sync(tmp_path, stub.url, service.root_pub)
    assert ran.status == ExitStatus.NOT_OK
    assert "status feed refused" in ran.err
    assert _rows(tmp_path) == []
    # The feed key itself, but a page answering another cursor than asked: refused as well.
    feed_key = PrivateKey.from_pem((service.data_dir / "keys" / "feed.key.pem").read_bytes())
    stub.feed = lambda query: json.dumps(sign_page({**page, "since": "5-0"}, feed_key)).encode()
    ran = _sync(tmp_path, stub.url, service.root_pub)
    assert ran.status == ExitStatus.NOT_OK and "asked for" in ran.err
    # And correctly signed and in order: accepted.
    stub.feed = lambda query: json.dumps(sign_page(page, feed_key)).encode()
    assert _sync(tmp_path, stub.url, service.root_pub).status == ExitStatus.OK
    assert [r[0] for r in _rows(tmp_path)] == ["辽A-SY-2024-99999"]


def test_unreachable_server(tmp_path: Path, service: Service) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ran = _sync(tmp_path, f"http://127.0.0.1:{port}", service.root_pub)
    assert ran.status == ExitStatus.ERROR
    assert "cannot sync" in ran.err
    bad = _sync(tmp_path, "ftp://example.com", service.root_pub)
    assert bad.status == ExitStatus.ERROR


def test_a_replayed_old_page_does_not_make_old_data_fresh(service: Service, stub: Stub, tmp_path: Path,
                                                          site_photos: list[Photo]) -> None:
    """Issue 10.6: the last page of a sync, captured and served back 30 days later, is validly signed; the data
    then stays as old as that page says, so --max-age still protects. Older pages and cursors going back
    are refused."""
    captured: list[bytes] = []

    def recording(query: str) -> bytes:
        captured.append(upstream(service.url, "/api/v1/status-feed?" + query))
        return captured[-1]

    stub.feed = recording
    assert _sync(tmp_path, stub.url, service.root_pub).status == ExitStatus.OK
    assert _sync(tmp_path, stub.url).status == ExitStatus.OK  # its one page: empty, at the cursor reached
    data_time = offline_data(tmp_path).data_time
    assert data_time is not None
    later = data_time + timedelta(days=30)
    stub.feed = lambda query: captured[-1]
    replayed = crane_scan(["sync", "--server", stub.url], tmp_path, now=later)
    assert replayed.status == ExitStatus.OK, replayed.err
    assert offline_data(tmp_path).data_time == data_time  # the signed time, not the sync's
    info = crane_scan(["info", "--max-age", "7d"], tmp_path, now=later)
    assert info.status == ExitStatus.NOT_OK and "older than the allowed" in info.out
    valid = next(p for p in site_photos if p.expected == "valid")
    [answer] = crane_scan(["--json", str(valid.path), "--max-age", "7d"], tmp_path, now=later).json()
    assert answer["status"]["state"] == "unknown" and answer["verdict"]["ok"] is False

    feed_key = PrivateKey.from_pem((service.data_dir / "keys" / "feed.key.pem").read_bytes())
    cursor = offline_data(tmp_path).cursor
    older = {"format": 1, "since": cursor, "next": cursor, "more": False, "entries": [],
             "generated_at": (data_time - timedelta(days=1)).isoformat()}
    stub.feed = lambda query: json.dumps(sign_page(older, feed_key)).encode()
    refused = crane_scan(["sync", "--server", stub.url], tmp_path, now=later)
    assert refused.status == ExitStatus.NOT_OK and "older than the newest page" in refused.err
    behind = {**older, "next": "1-0", "generated_at": later.isoformat()}
    stub.feed = lambda query: json.dumps(sign_page(behind, feed_key)).encode()
    refused = crane_scan(["sync", "--server", stub.url], tmp_path, now=later)
    assert refused.status == ExitStatus.NOT_OK and "behind" in refused.err
    assert offline_data(tmp_path).data_time == data_time
