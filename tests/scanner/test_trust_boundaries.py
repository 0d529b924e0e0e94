"""Issue 10, points 5 and 7: the scanner believes neither its own disk nor the service over what is signed.

The offline data is edited as an attacker with the file would edit it (an SQL UPDATE of a revoked
certificate, a trust list and feed of the attacker's own with a forged code); the service is replaced by
a real HTTP server of the test's own that lies (revoked read as valid, a forgery accepted, the crane's
record number altered to what the plate says).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import PrivateKey, PublicKey
from keys.cli_env import ExitStatus
from keys.payload import issue
from keys.record import Record
from keys.samples import CITIES, sample_record
from keys.trustlist import KeyRole, TrustedIssuer, TrustedKey, TrustList
from scanner.offline import OfflineCache
from scanner.online import ServiceClient
from scanner.pin import PinStore
from scanner.sync import SyncRefused, sync
from tests.http_stub import Reply, stub_server, upstream
from tests.scanner.conftest import Photo, Service, crane_scan, make_photo
from tests.scanner.offline_data import write_offline

LIE = "辽X-T-00000"  # the record number the lying service puts on every certificate


def _photo(photos: list[Photo], state: str) -> Photo:
    return next(p for p in photos if p.expected == state)


def _forgery(service: Service, key: PrivateKey) -> tuple[Record, str]:
    """A code in the service's URL form for a made-up certificate, signed by `key`."""
    record = Record.from_json(sample_record(random.Random(11), 99001, city=CITIES[0]))
    return record, issue(record, key, service.manifest["public_url"], datetime.now(UTC) - timedelta(days=1))


def _fresh_sync(service: Service, data_dir: Path) -> None:
    ran = crane_scan(["sync", "--server", service.url, "--root-pub", service.root_pub], data_dir)
    assert ran.status == ExitStatus.OK, ran.err


def test_an_edited_feed_page_does_not_load(service: Service, site_photos: list[Photo], tmp_path: Path) -> None:
    _fresh_sync(service, tmp_path)
    revoked = _photo(site_photos, "revoked")
    [before] = crane_scan(["--json", str(revoked.path)], tmp_path).json()
    assert before["status"]["state"] == "revoked"
    # The listing kept for people to read is not what a scan answers from.
    with sqlite3.connect(OfflineCache.in_data_dir(tmp_path).path) as db:
        assert db.execute("UPDATE certificates SET state = 'valid' WHERE state = 'revoked'").rowcount >= 1
    [listed] = crane_scan(["--json", str(revoked.path)], tmp_path).json()
    assert listed["status"]["state"] == "revoked" and listed["verdict"]["ok"] is False
    # One SQL UPDATE: the stored page now says the revoked certificate is valid.
    with sqlite3.connect(OfflineCache.in_data_dir(tmp_path).path) as db:
        changed = db.execute("""UPDATE pages SET document = replace(document, '"state":"revoked"', '"state":"valid"')
                                WHERE document LIKE '%"state":"revoked"%'""").rowcount
    assert changed >= 1
    ran = crane_scan(["--json", str(revoked.path)], tmp_path)
    assert ran.status == ExitStatus.ERROR and ran.out == ""
    assert "does not verify" in ran.err and "sync" in ran.err
    assert crane_scan(["info"], tmp_path).status == ExitStatus.NOT_OK
    # The next sync notices, drops the pages and reads the feed again from its start.
    resync = crane_scan(["sync", "--server", service.url], tmp_path)
    assert resync.status == ExitStatus.OK and "read from its start" in resync.out
    [after] = crane_scan(["--json", str(revoked.path)], tmp_path).json()
    assert after["status"]["state"] == "revoked" and after["verdict"]["ok"] is False


def test_a_swapped_trust_list_and_feed_do_not_make_a_forgery_valid(service: Service, tmp_path: Path) -> None:
    _fresh_sync(service, tmp_path)
    attacker = PrivateKey.generate()
    record, forged = _forgery(service, attacker)
    photo = make_photo(tmp_path / "forged.jpg", [forged], seed=21)
    # Against the real trust list the forgery's key is unknown.
    [answer] = crane_scan(["--json", str(photo)], tmp_path).json()
    assert answer["signature"]["result"] == "unknown_key" and answer["verdict"]["ok"] is False
    # The attacker rewrites the whole file: a trust list naming their key, signed by a root of their own, and a
    # correctly signed feed page calling the forgery valid. The pin is not in the file, so none of it loads.
    trust = TrustList().with_issuer(TrustedIssuer(record.issuer.code, record.issuer.name, record.issuer.credit_code))
    trust = trust.with_key(TrustedKey(attacker.public_key().kid, attacker.public_key(), record.issuer.code,
                                      KeyRole.ISSUER))
    cache = OfflineCache.in_data_dir(tmp_path)
    with cache.connect() as db:
        cache.clear_pages(db)
    write_offline(cache, trust, [{"registration_no": record.registration_no, "version": record.version,
                                  "state": "valid", "record_no": record.equipment.record_no}], datetime.now(UTC))
    ran = crane_scan(["--json", str(photo)], tmp_path)
    assert ran.status == ExitStatus.ERROR and ran.out == ""
    assert "does not verify" in ran.err


@pytest.fixture
def regional_feed(service: Service) -> Iterator[str]:
    """The real service, except that the status feed is answered with its signed page for region 22 (a
    province with none of the certificates): every entry filtered out, `next` past the revocations."""

    def answer(_method: str, path: str, _body: bytes) -> Reply:
        regional = "&region=22" if path.startswith("/api/v1/status-feed") else ""
        return Reply(upstream(service.url, path + regional))

    with stub_server(answer) as url:
        yield url


def test_a_regional_feed_page_served_as_the_national_feed_is_refused(regional_feed: str, service: Service,
                                                                      tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "config", tmp_path / "data")
    cache = OfflineCache.in_data_dir(tmp_path / "data")
    with pytest.raises(SyncRefused, match="region '22', asked for None"):
        sync(ServiceClient(regional_feed), cache, pins, PublicKey.from_pem(Path(service.root_pub).read_bytes()),
             lambda: datetime.now(UTC))
    kept = cache.load(PublicKey.from_pem(Path(service.root_pub).read_bytes()))
    assert kept.rows == {} and kept.data_time is None  # nothing of the page was kept to answer from
    ran = crane_scan(["sync", "--server", regional_feed, "--root-pub", service.root_pub], tmp_path / "cli")
    assert ran.status == ExitStatus.NOT_OK and "refused" in ran.err and "地区" in ran.err


# --- the online scanner against a lying service ------------------------------------------------------

@pytest.fixture
def liar(service: Service) -> Iterator[str]:
    """Answers every code as the real service does, then lies: signature and state valid, and the crane's
    record number changed to LIE."""

    def answer(_method: str, _path: str, body: bytes) -> Reply:
        answer = json.loads(upstream(service.url, "/api/v1/verify", body))
        answer["verdict"] = {"ok": True, "zh": "证书有效", "en": "Certificate valid"}
        answer["signature"]["result"] = "valid"
        answer["status"].update(state="valid", reason="", superseded_by=None)
        if isinstance(answer.get("certificate"), dict):
            answer["certificate"].setdefault("equipment", {})["record_no"] = LIE
        return Reply(json.dumps(answer, ensure_ascii=False).encode())

    with stub_server(answer) as url:
        yield url


def test_a_lying_service_is_overruled_by_what_is_signed(liar: str, service: Service, synced: Path,
                                                        site_photos: list[Photo], tmp_path: Path) -> None:
    revoked = _photo(site_photos, "revoked")
    [answer] = crane_scan(["--json", str(revoked.path), "--online", liar], synced).json()
    assert answer["mode"] == "online" and answer["verdict"]["ok"] is False
    assert answer["status"]["state"] == "revoked"
    assert any("the offline record stands" in n for n in answer["notes"])

    _, forged = _forgery(service, PrivateKey.generate())
    photo = make_photo(tmp_path / "forged.jpg", [forged], seed=22)
    [answer] = crane_scan(["--json", str(photo), "--online", liar], synced).json()
    assert answer["signature"]["result"] == "unknown_key" and answer["verdict"]["ok"] is False

    # The plate is compared with the signed code, not with the service's altered field.
    valid = _photo(site_photos, "valid")
    ran = crane_scan(["--json", str(valid.path), "--online", liar, "--expect-record", LIE], synced)
    [answer] = ran.json()
    assert ran.status == ExitStatus.NOT_OK and answer["verdict"]["ok"] is False
    assert answer["mismatches"] == ["record_no"]
    assert answer["certificate"]["equipment"]["record_no"] == valid.entry["record_no"]
    assert any("the signed values are shown" in n for n in answer["notes"])
    honest = crane_scan(["--json", str(valid.path), "--online", liar, "--expect-record", valid.entry["record_no"]],
                        synced)
    assert honest.status == ExitStatus.OK and honest.json()[0]["verdict"]["ok"] is True


def test_without_offline_data_the_online_answer_says_it_was_not_checked_here(liar: str, site_photos: list[Photo],
                                                                            tmp_path: Path) -> None:
    valid = _photo(site_photos, "valid")
    [answer] = crane_scan(["--json", str(valid.path), "--online", liar], tmp_path / "none").json()
    assert any("could not be checked locally" in n for n in answer["notes"])
