"""Demo data: a root, three Liaoning issuers, a feed key, a signed trust list and ~50 certificates, and for
the CLI a sealed OFD e-certificate file of each electronic certificate.

Deterministic and idempotent: the same records and (Ed25519 being deterministic) the same payloads on
every run; only the QR images, the sealed files and the manifest follow the current public URL.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import segno

from keys.algorithms import Alg, PrivateKey
from keys.answer import State
from keys.documents.layout import make_demo_document
from keys.documents.seal_keys import SealIdentity, load_identity, make_seal_certificate, make_seal_root
from keys.identifiers import LicenceId
from keys.payload import issue, qr_prefix
from keys.record import Category, Record
from keys.samples import CITIES, authority_credit_code, sample_record
from keys.trustlist import IssuerContact, KeyRole, SignedTrustList, TrustedIssuer, TrustedKey, TrustList

from .store import Outcome, Store

CHINA = timezone(timedelta(hours=8))
KEY_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=CHINA)
ACTOR = "operator:demo"

# How many demo certificates end in each registry state (superseded ones also bring their valid successor).
PLAN: tuple[tuple[State, int], ...] = (
    (State.VALID, 28), (State.ENDED, 5), (State.SUPERSEDED, 4), (State.REVOKED, 3), (State.SUSPENDED, 3),
    (State.PAPER_LEGACY, 5),
)
REASONS = {
    State.ENDED: "拆卸告知已完成 / dismantling notice completed",
    State.REVOKED: "提供虚假材料，撤销使用登记 / registration obtained with false documents",
    State.SUSPENDED: "安全检查发现重大隐患，责令停用整改 / serious hazard found; use suspended pending repair",
    State.SUPERSEDED: "更正安装位置 / installation position corrected",
}


@dataclass(frozen=True)
class DemoKeys:
    root: PrivateKey
    issuers: dict[str, PrivateKey]
    feed: PrivateKey


@dataclass(frozen=True)
class DemoCertificate:
    record: Record
    qr_text: str | None
    expected: State


def _key(path: Path, alg: Alg = Alg.EDDSA) -> PrivateKey:
    if path.exists():
        return PrivateKey.from_pem(path.read_bytes())
    key = PrivateKey.generate(alg)
    key.write(path)
    return key


def ensure_keys(data_dir: Path) -> DemoKeys:
    """Demo keys live in the git-ignored data folder, generated on first use, never committed."""
    key_dir = data_dir / "keys"
    root = _key(key_dir / "root.key.pem")
    issuers = {city.code: _key(key_dir / f"issuer-{city.code}.key.pem") for city in CITIES}
    feed = _key(key_dir / "feed.key.pem")
    keys = DemoKeys(root, issuers, feed)
    trust_dir = data_dir / "trust"
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / "root.pub.pem").write_bytes(root.public_key().pem())
    trust_path = trust_dir / "trust.json"
    wanted = demo_trust_list(keys)
    if not trust_path.exists() or SignedTrustList.loads(trust_path.read_bytes()).body != wanted.body():
        trust_path.write_bytes(SignedTrustList.sign(wanted, root).dumps())
    return keys


# Synthetic public contacts (example.cn addresses, numbers of no one), shown on pages of refused certificates.
CONTACTS = {
    "210100": IssuerContact(phone="024-2287 0000", address="沈阳市浑南区示例路 1 号 政务服务中心 3 号窗口",
                            url="https://zjj.shenyang.example.cn/"),
    "210200": IssuerContact(phone="0411-3999 0000", address="大连市沙河口区示例街 2 号", url="https://zjj.dalian.example.cn/"),
    "210300": IssuerContact(phone="0412-555 0000", address="鞍山市铁东区示例大道 3 号", url="https://zjj.anshan.example.cn/"),
}


def demo_trust_list(keys: DemoKeys) -> TrustList:
    # Each issuer owns its plate's numbers (辽A- 沈阳, 辽B- 大连, 辽C- 鞍山).
    issuers = tuple(TrustedIssuer(c.code, c.authority, authority_credit_code(c), (f"{c.plate}-",), CONTACTS.get(c.code))
                    for c in CITIES)
    entries = tuple(TrustedKey(k.public_key().kid, k.public_key(), code, KeyRole.ISSUER, not_before=KEY_NOT_BEFORE)
                    for code, k in keys.issuers.items())
    feed = TrustedKey(keys.feed.public_key().kid, keys.feed.public_key(), CITIES[0].code, KeyRole.FEED,
                      not_before=KEY_NOT_BEFORE)
    return TrustList(root=keys.root.public_key(), serial=1, issued_at=KEY_NOT_BEFORE, issuers=issuers,
                     keys=(*entries, feed))


def demo_certificates(keys: DemoKeys, public_url: str) -> list[DemoCertificate]:
    rng = random.Random(20240730)
    out: list[DemoCertificate] = []
    index = 100
    for state, count in PLAN:
        for n in range(count):
            index += 1
            city = CITIES[index % len(CITIES)]
            category = list(Category)[index % 4]
            paper = state is State.PAPER_LEGACY
            issued_on = date(2023, 3, 1) + timedelta(days=rng.randrange(450)) if paper else None
            record = Record.from_json(sample_record(rng, index, city=city, category=category, issued_on=issued_on,
                                                    paper=paper))
            if paper:
                out.append(DemoCertificate(record, None, state))
                continue
            out.append(DemoCertificate(record, _sign(record, keys, public_url), state))
            if state is State.SUPERSEDED and record.licence_id:
                position = ("1#楼南侧", "6#楼东侧", "地下车库北侧", "主楼西侧")[n % 4]
                corrected = replace(record, version=2, licence_id=with_version(record.licence_id, 2),
                                    project=replace(record.project, position=position))
                out.append(DemoCertificate(corrected, _sign(corrected, keys, public_url), State.VALID))
    return out


def with_version(licence_id: str, version: int) -> str:
    """The same e-licence identifier for another version of the certificate (its check character follows)."""
    return str(replace(LicenceId.parse(licence_id), version=version))


def _sign(record: Record, keys: DemoKeys, public_url: str) -> str:
    signed_at = datetime.combine(record.issued_on, datetime.min.time(), CHINA) + timedelta(hours=9, minutes=30)
    return issue(record, keys.issuers[record.issuer.code], public_url, signed_at.astimezone(UTC))


def load(store: Store, certificates: list[DemoCertificate], now: datetime) -> int:
    """Register every demo certificate and bring it to its planned state; returns how many were new."""
    created = 0
    for cert in certificates:
        record = cert.record
        if record.version > 1:
            change = store.correct(record, cert.qr_text, REASONS[State.SUPERSEDED], ACTOR, now, record.issuer.code)
            created += change.outcome is Outcome.CREATED
            continue
        change = store.register(record, cert.qr_text, ACTOR, now)
        if change.outcome is not Outcome.CREATED:
            continue
        created += 1
        if cert.expected in (State.ENDED, State.REVOKED, State.SUSPENDED):
            since = now - timedelta(days=3 + created % 40)
            store.change_status(record.registration_no, cert.expected, REASONS[cert.expected], ACTOR, now,
                                issuer=None, since=since,
                                action="dismantling" if cert.expected is State.ENDED else "status")
    return created


def write_manifest(data_dir: Path, certificates: list[DemoCertificate], public_url: str, root_pub: Path) -> Path:
    demo_dir = data_dir / "demo"
    qr_dir = demo_dir / "qr"
    qr_dir.mkdir(parents=True, exist_ok=True)
    prefix = qr_prefix(public_url)
    entries: list[dict[str, Any]] = []
    for cert in certificates:
        record = cert.record
        entry: dict[str, Any] = {"registration_no": record.registration_no, "version": record.version,
                                 "record_no": record.equipment.record_no, "expected_status": cert.expected.value}
        if cert.qr_text:
            text = prefix + cert.qr_text.rsplit("/", 1)[1]
            png = qr_dir / f"cert-{len(entries) + 1:03d}-v{entry['version']}.png"
            segno.make(text, error="m", micro=False).save(str(png), kind="png", scale=6, border=4)
            entry.update(qr_text=text, qr_png=str(png.resolve()))
        entries.append(entry)
    manifest = {"public_url": public_url, "root_pub": str(root_pub.resolve()), "certificates": entries}
    path = demo_dir / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return path


def build(store: Store, data_dir: Path, public_url: str, now: datetime,
          sealed_documents: bool = False) -> tuple[Path, int]:
    """Everything `crane-verify demo` does: keys, trust list, certificates, QR images, manifest, and with
    `sealed_documents` (the CLI's demo and serve --demo) the sealed OFD files; callers that only need the
    registry, such as most tests, leave those out."""
    keys = ensure_keys(data_dir)
    certificates = demo_certificates(keys, public_url)
    created = load(store, certificates, now)
    manifest = write_manifest(data_dir, certificates, public_url, data_dir / "trust" / "root.pub.pem")
    if sealed_documents:
        write_documents(data_dir, certificates, manifest, now)
    return manifest, created


# --- sealed demo e-certificate files (OFD, SES v4 seals under a demo seal root) ---------------------------

SEAL_ROOT_NAME = "演示印章根 Demo Seal Root"


def seal_root_path(data_dir: Path) -> Path:
    """The demo seal root's certificate: what `serve --demo` adds to CRANE_SEAL_ROOTS."""
    return data_dir / "keys" / "seal" / "seal-root.cert.pem"


def _seal_identity(folder: Path, stem: str, make: Callable[[], SealIdentity]) -> SealIdentity:
    key, cert = folder / f"{stem}.key.pem", folder / f"{stem}.cert.pem"
    if key.exists() and cert.exists():
        return load_identity(key.read_bytes(), cert.read_bytes())
    identity = make()
    identity.key.write(key)
    cert.write_bytes(identity.certificate_pem())
    return identity


def ensure_seal_keys(data_dir: Path, now: datetime) -> tuple[SealIdentity, dict[str, SealIdentity]]:
    """The demo seal root (it also makes the seals) and one SM2 seal key per issuer, in the git-ignored
    data folder, made on first use."""
    folder = seal_root_path(data_dir).parent
    folder.mkdir(parents=True, exist_ok=True)
    root = _seal_identity(folder, "seal-root", lambda: make_seal_root(SEAL_ROOT_NAME, now))
    seals = {c.code: _seal_identity(folder, f"seal-{c.code}", partial(make_seal_certificate, root, c.authority, now))
             for c in CITIES}
    return root, seals


def write_documents(data_dir: Path, certificates: list[DemoCertificate], manifest_path: Path, now: datetime) -> Path:
    """A sealed OFD per electronic certificate in <data dir>/demo/ofd/, named after its QR image; each entry
    of the manifest gains its `ofd`. A file already there is kept when it is unchanged and was made from
    the same record, QR text and seal keys (ofd/index.json), so a second run makes none."""
    root, seals = ensure_seal_keys(data_dir, now)
    folder = manifest_path.parent / "ofd"
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.json"
    index: dict[str, dict[str, str]] = json.loads(index_path.read_text("utf-8")) if index_path.exists() else {}
    manifest = json.loads(manifest_path.read_text("utf-8"))
    for cert, entry in zip(certificates, manifest["certificates"], strict=True):
        if not entry.get("qr_text"):
            continue
        seal = seals[cert.record.issuer.code]
        path = folder / (Path(entry["qr_png"]).stem + ".ofd")
        inputs = hashlib.sha256(json.dumps([cert.record.to_json(), entry["qr_text"]], ensure_ascii=False,
                                           sort_keys=True).encode() + seal.certificate.der + root.certificate.der)
        known = index.get(path.name, {})
        if not (path.exists() and known.get("inputs") == inputs.hexdigest()
                and known.get("sha256") == hashlib.sha256(path.read_bytes()).hexdigest()):
            data = make_demo_document(cert.record, entry["qr_text"], seal, now, maker=root,
                                      qr_image=Path(entry["qr_png"]).read_bytes())
            path.write_bytes(data)
            index[path.name] = {"inputs": inputs.hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
        entry["ofd"] = str(path.resolve())
    index_path.write_text(json.dumps(index, indent=1), "utf-8")
    manifest["seal_root"] = str(seal_root_path(data_dir).resolve())
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return folder
