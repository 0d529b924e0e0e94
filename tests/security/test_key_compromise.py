"""A stolen issuer key, a retired one, and a new root: the trust list decides, and both sides follow it.

- Marking a key compromised at T (a new signed trust list, which the running service picks up within
  its reload interval) makes payloads signed at or after T `key_revoked`; those signed before stay valid.
- Online, the registry's own registration time is checked too: a payload registered at or after T is
  `key_revoked` whatever signing time it claims, so a thief cannot backdate `iat` past T.
- A retired key still verifies what it signed while it was valid.
- The root key rotates: the new list names the new root and is cross-signed by the old one; a scanner
  pinned to the old root (`crane-scan sync`) moves on, and refuses a list signed by neither, as does the
  service itself.
"""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keys.algorithms import Alg, PrivateKey
from keys.payload import issue, verify_at
from keys.record import Record
from keys.trustlist import KeyRole, KeyState, SignedTrustList, TrustedKey, TrustList
from scanner.pin import PinStore
from tests.reliability.live import BASE_URL, LiveService, bearer, quoted
from verify_api import demo

from .test_access import SHENYANG

T = datetime(2025, 7, 1, tzinfo=UTC)            # the key is stolen at T
ANNOUNCED = datetime(2025, 7, 10, tzinfo=UTC)   # ... and the authority finds out and says so later
RELOAD_S = 0.5


class Clock:
    """The service's notion of now (Config.now), set by the test."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def publish(data_dir: Path, trust: TrustList, *roots: PrivateKey) -> None:
    """Write a signed list where the service reads it (atomically, as an operator's tooling should)."""
    path = data_dir / "trust" / "trust.json"
    staged = path.with_suffix(".staged")
    staged.write_bytes(SignedTrustList.sign(trust, *roots).dumps())
    staged.replace(path)


def sign(keys: demo.DemoKeys, index: int, signed_at: datetime, city: int = 0, key: PrivateKey | None = None):
    import random

    from keys.samples import CITIES, sample_record

    raw = sample_record(random.Random(index), index, city=CITIES[city])
    return raw, issue(Record.from_json(raw), key or keys.issuers[CITIES[city].code], BASE_URL, signed_at)


def verify(client, qr: str) -> dict:
    response = client.post("/api/v1/verify", json={"qr": qr})
    assert response.status_code == 200
    return response.get_json()


def test_a_compromised_key_revokes_from_T_and_registration_time_defeats_backdating(make_app, demo_keys, data_dir):
    clock = Clock(datetime(2025, 6, 10, 9, tzinfo=UTC))
    app = make_app(trust_reload_s=RELOAD_S, now=clock)
    client = app.test_client()
    store = app.extensions["crane"].store
    token = store.create_token(SHENYANG, clock())[1]

    def register(raw, qr, expect=201):
        response = client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=bearer(token))
        assert response.status_code == expect, response.get_json()
        return response

    before, before_qr = sign(demo_keys, 6001, clock())                      # signed and registered before T
    register(before, before_qr)
    clock.moment = datetime(2025, 7, 5, 9, tzinfo=UTC)
    after, after_qr = sign(demo_keys, 6002, clock())                        # signed after T, before anyone knew
    register(after, after_qr)
    assert verify(client, after_qr)["verdict"]["ok"] is True

    # the authority announces: key compromised from T; the running service picks the new list up
    clock.moment = ANNOUNCED
    trust = demo.demo_trust_list(demo_keys)
    stolen = next(k for k in trust.keys if k.issuer == SHENYANG and k.role is KeyRole.ISSUER)
    publish(data_dir, replace(trust.with_key(replace(stolen, state=KeyState.COMPROMISED, compromised_at=T)),
                              serial=2), demo_keys.root)
    published = time.monotonic()
    while verify(client, after_qr)["signature"]["result"] != "key_revoked":
        assert time.monotonic() - published < RELOAD_S + 1.0, "the new trust list was not picked up in time"
        time.sleep(0.05)

    answer = verify(client, before_qr)
    assert answer["signature"]["result"] == "valid" and answer["verdict"]["ok"] is True
    answer = verify(client, after_qr)
    assert answer["signature"]["result"] == "key_revoked" and answer["verdict"]["ok"] is False
    assert answer["verdict"]["zh"] == "签发密钥已被吊销，证书不可信"
    at_t = sign(demo_keys, 6003, T)[1]                                       # exactly at T: revoked too
    assert verify(client, at_t)["signature"]["result"] == "key_revoked"
    assert verify(client, sign(demo_keys, 6004, T - timedelta(seconds=1))[1])["signature"]["result"] == "valid"

    # the thief backdates iat to before T and gets the payload registered after T
    clock.moment = datetime(2025, 7, 12, tzinfo=UTC)
    backdated, backdated_qr = sign(demo_keys, 6005, datetime(2025, 6, 15, tzinfo=UTC))
    assert verify_at(backdated_qr, app.extensions["crane"].trust.current(), clock()).valid  # offline it looks fine
    register(backdated, backdated_qr)
    answer = verify(client, backdated_qr)
    assert answer["signature"]["result"] == "key_revoked" and answer["verdict"]["ok"] is False
    # the same by every way of asking: lookup by number, by e-licence identifier, the public page
    lookup = client.get(f"/api/v1/certificates/{quoted(backdated['registration_no'])}",
                        query_string={"record_no": backdated["equipment"]["record_no"]}).get_json()
    assert lookup["signature"]["result"] == "key_revoked" and lookup["verdict"]["ok"] is False
    by_id = verify(client, backdated["licence_id"])
    assert by_id["signature"]["result"] == "key_revoked" and by_id["verdict"]["ok"] is False
    page = client.get("/V/" + backdated_qr.rsplit("/", 1)[1]).get_data(as_text=True)
    assert "签发密钥已被吊销" in page and "Certificate valid" not in page
    # and a payload openly signed after T is refused at registration
    late, late_qr = sign(demo_keys, 6006, clock())
    assert register(late, late_qr, expect=422).get_json()["code"] == "signature_key_revoked"


def test_a_retired_key_still_verifies_what_it_signed(make_app, demo_keys, data_dir):
    retired_at = datetime(2025, 8, 1, tzinfo=UTC)
    clock = Clock(datetime(2025, 7, 20, tzinfo=UTC))
    app = make_app(trust_reload_s=RELOAD_S, now=clock)
    client = app.test_client()
    token = app.extensions["crane"].store.create_token("210200", clock())[1]
    old_raw, old_qr = sign(demo_keys, 6101, clock(), city=1)
    assert client.post("/api/v1/issuer/certificates", json={"record": old_raw, "qr_text": old_qr},
                       headers=bearer(token)).status_code == 201

    successor = PrivateKey.generate(Alg.ES256)
    trust = demo.demo_trust_list(demo_keys)
    old = next(k for k in trust.keys if k.issuer == "210200" and k.role is KeyRole.ISSUER)
    trust = trust.with_key(replace(old, state=KeyState.RETIRED, not_after=retired_at))
    trust = trust.with_key(TrustedKey(successor.public_key().kid, successor.public_key(), "210200", KeyRole.ISSUER,
                                      not_before=retired_at))
    publish(data_dir, replace(trust, serial=2), demo_keys.root)
    clock.moment = datetime(2025, 9, 1, tzinfo=UTC)
    time.sleep(RELOAD_S + 0.1)

    answer = verify(client, old_qr)
    assert answer["signature"]["result"] == "valid" and answer["verdict"]["ok"] is True
    new_raw, new_qr = sign(demo_keys, 6102, clock(), city=1, key=successor)
    assert client.post("/api/v1/issuer/certificates", json={"record": new_raw, "qr_text": new_qr},
                       headers=bearer(token)).status_code == 201
    answer = verify(client, new_qr)
    assert answer["signature"]["result"] == "valid" and answer["signature"]["alg"] == "ES256"
    # the retired key signing after its retirement is not believed
    stray = sign(demo_keys, 6103, clock(), city=1)[1]
    assert verify(client, stray)["signature"]["result"] == "key_not_valid_at_issue"


# --- root rotation, with the scanner -------------------------------------------------------------------

def _scan(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("crane-scan")), *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CRANE_ROOT_PUB": "", "XDG_CONFIG_HOME": str(data_dir / "config")})


def _pins(scanner_dir: Path) -> list[str]:
    # The scanner keeps its root pins in the user's configuration directory, apart from its data.
    return [pin.root.kid for pin in PinStore(scanner_dir / "config" / "crane-scan", scanner_dir).history()]


def _cached_serial(scanner_dir: Path) -> int:
    with sqlite3.connect(scanner_dir / "scanner" / "offline.sqlite") as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'trust_serial'").fetchone()[0])


def _served_serial(service: LiveService) -> int:
    status, _, body = service.get("/api/v1/trust-list")
    return json.loads(body)["list"]["serial"]


def _wait_served(service: LiveService, serial: int) -> None:
    """The worker re-reads the list on its first request after its reload interval (2 s)."""
    time.sleep(2.2)
    assert [_served_serial(service) for _ in range(6)] == [serial] * 6


class _ForgedServer(http.server.ThreadingHTTPServer):
    """A look-alike server answering /api/v1/trust-list with a document of the attacker's choosing."""

    document = b""

    def __init__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                body = outer.document if self.path.startswith("/api/v1/trust-list") else b"{}"
                self.send_response(200 if self.path.startswith("/api/v1/trust-list") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.mark.slow
def test_root_rotation_moves_a_pinned_scanner_on_and_a_list_signed_by_neither_is_refused(
        redis_url, demo_keys_dir, tmp_path):
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(demo_keys_dir, data_dir)
    keys = demo.ensure_keys(data_dir)
    old_root, new_root, stranger = keys.root, PrivateKey.generate(Alg.EDDSA), PrivateKey.generate(Alg.EDDSA)
    old_pub = data_dir / "trust" / "root.pub.pem"
    base = demo.demo_trust_list(keys)
    pinned, late = tmp_path / "scanner", tmp_path / "late-scanner"
    forged = _ForgedServer()
    threading.Thread(target=forged.serve_forever, daemon=True).start()
    try:
        # one worker: each gunicorn worker keeps its own copy of the list, and this test is about pins
        with LiveService(data_dir, args=("--demo", "--workers", "1"), env={"REDIS_URL": redis_url}) as service:
            first = _scan("sync", "--server", service.url, "--root-pub", str(old_pub), data_dir=pinned)
            assert first.returncode == 0, first.stderr
            assert _pins(pinned) == [old_root.public_key().kid]

            # rotation: serial 2 names the new root and carries the old root's cross-signature
            publish(data_dir, replace(base, root=new_root.public_key(), serial=2), new_root, old_root)
            _wait_served(service, 2)
            moved = _scan("sync", "--server", service.url, data_dir=pinned)
            assert moved.returncode == 0, moved.stderr
            assert "cross-signature" in moved.stdout
            assert _pins(pinned) == [old_root.public_key().kid, new_root.public_key().kid]
            # a scanner that first syncs now, pinned to the old root, moves on in one step as well
            assert _scan("sync", "--server", service.url, "--root-pub", str(old_pub), data_dir=late).returncode == 0

            # from here the new root alone signs; the service and the moved scanner follow it
            publish(data_dir, replace(base, root=new_root.public_key(), serial=3), new_root)
            _wait_served(service, 3)
            assert _scan("sync", "--server", service.url, data_dir=pinned).returncode == 0
            assert _cached_serial(pinned) == 3

            # a list signed by neither root: the service keeps serving the last good one and says why
            publish(data_dir, replace(base, root=stranger.public_key(), serial=4), stranger)
            _wait_served(service, 3)
            ready = json.loads(service.get("/readyz")[2])
            assert "refused" in (ready["trust_error"] or ""), ready

            # the same document, and others, served by a look-alike server: the scanner refuses each
            attempts = {
                "a stranger's root, self-signed": SignedTrustList.sign(
                    replace(base, root=stranger.public_key(), serial=9), stranger),
                "the new root named, signed by a stranger": SignedTrustList.sign(
                    replace(base, root=new_root.public_key(), serial=9), stranger),
                "back to the old root (its key may be the stolen one)": SignedTrustList.sign(
                    replace(base, root=old_root.public_key(), serial=9), old_root),
                "unsigned": SignedTrustList(replace(base, root=new_root.public_key(), serial=9).body()),
            }
            for what, document in attempts.items():
                forged.document = document.dumps()
                refused = _scan("sync", "--server", forged.url, data_dir=pinned)
                assert refused.returncode == 1 and "refused" in refused.stderr, (what, refused.stdout, refused.stderr)
                assert _cached_serial(pinned) == 3, what
                assert _pins(pinned) == [old_root.public_key().kid, new_root.public_key().kid], what
            # a scanner still pinned to the old root, seeing a list with no cross-signature, refuses it too
            fresh = _scan("sync", "--server", service.url, "--root-pub", str(old_pub), data_dir=tmp_path / "s3")
            assert fresh.returncode == 1 and "pinned root" in fresh.stderr, fresh.stderr

            # the service still answers from the last good list
            valid = next(c for c in service.manifest()["certificates"] if c["expected_status"] == "valid")
            answer = json.loads(service.post("/api/v1/verify", {"qr": valid["qr_text"]})[2])
            assert answer["signature"]["result"] == "valid" and answer["verdict"]["ok"] is True
    finally:
        forged.shutdown()
        forged.server_close()


@pytest.mark.slow
def test_a_backdated_payload_is_key_revoked_offline_too(redis_url, demo_keys_dir, tmp_path):
    """The status feed carries each version's registration time, so an offline scanner makes the same
    check as the service: a payload the registry first saw at or after T is not vouched for."""
    import shutil

    import segno

    from verify_api.store import Store

    data_dir = tmp_path / "data"
    shutil.copytree(demo_keys_dir, data_dir)
    keys = demo.ensure_keys(data_dir)
    now = datetime.now(UTC)
    stolen_at = now - timedelta(days=2)
    raw, qr = sign(keys, 6201, now - timedelta(days=30))       # iat backdated to before the theft
    with LiveService(data_dir, args=("--workers", "1"), env={"REDIS_URL": redis_url}) as service:
        store = Store(redis_url, timeout=5)
        token = store.create_token(SHENYANG, now)[1]
        store.client.close()
        status, _, body = service.post("/api/v1/issuer/certificates", {"record": raw, "qr_text": qr},
                                       headers=bearer(token))
        assert status == 201, body
        trust = demo.demo_trust_list(keys)
        key = next(k for k in trust.keys if k.issuer == SHENYANG and k.role is KeyRole.ISSUER)
        publish(data_dir, replace(trust.with_key(replace(key, state=KeyState.COMPROMISED, compromised_at=stolen_at)),
                                  serial=2), keys.root)
        _wait_served(service, 2)
        online = json.loads(service.post("/api/v1/verify", {"qr": qr})[2])
        assert online["signature"]["result"] == "key_revoked" and online["verdict"]["ok"] is False

        scanner = tmp_path / "scanner"
        synced = _scan("sync", "--server", service.url, "--root-pub", str(data_dir / "trust" / "root.pub.pem"),
                       data_dir=scanner)
        assert synced.returncode == 0, synced.stderr
    png = tmp_path / "backdated.png"
    segno.make(qr, error="m", micro=False).save(png, kind="png", scale=6, border=4)
    offline = _scan(str(png), "--json", data_dir=scanner)       # the service is gone: offline
    [answer] = [json.loads(line) for line in offline.stdout.splitlines() if line.startswith("{")]
    assert answer["mode"] == "offline", answer
    assert answer["signature"]["result"] == "key_revoked" and answer["verdict"]["ok"] is False, answer
    assert offline.returncode == 1
