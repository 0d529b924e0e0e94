"""verify_document: an OFD file's bytes and a time in, a typed report out.

OFD.xml -> each DocBody -> its Signatures.xml -> each Signature.xml (GB/T 33190 §18): every Reference's
CheckValue against the package file, the SignedValue in whichever format it is, the signer's and seal
maker's certificates at the signing time, and their chains to the trusted seal roots given.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from xml.etree.ElementTree import Element

from . import cms, der, gm, ses
from .certs import Certificate, chain_to_roots
from .errors import DocumentError
from .outcome import Outcome, loose_time
from .package import Package, child, children, local, parse_xml, resolve, text_of
from .report import CertSummary, DocumentReport, ImageResource, SignatureCheck, SignatureFormat, SignatureType
from .resources import page_images


@dataclass(frozen=True)
class _Listed:
    """A Signature entry of a Signatures.xml, with where it stands among that file's entries."""

    id: str
    type: SignatureType
    path: str
    signatures_xml: str
    later: bool         # another signature follows it in the same Signatures.xml


@dataclass(frozen=True)
class _Checked:
    check: SignatureCheck
    covered: frozenset[str]     # files its references name
    own: frozenset[str]         # its Signature.xml, signed value and seal file


def verify_document(data: bytes, now: datetime, roots: Sequence[Certificate] = (),
                    known_certificates: Sequence[Certificate] = ()) -> DocumentReport:
    """Check every signature of an OFD package. `roots` are the trusted seal roots (CRANE_SEAL_ROOTS);
    `known_certificates` are tried for bare SM2 signatures, which carry no certificate.
    Raises DocumentError only for a file that is not a readable OFD package or is refused as hostile."""
    package = Package.open(data)
    ofd = package.get("OFD.xml")
    if ofd is None and "OFD.xml" in package.damaged:
        raise DocumentError("OFD 包已损坏：OFD.xml。", "The OFD package is damaged: OFD.xml.")
    if ofd is None:
        raise DocumentError("不是 OFD 文件（缺少 OFD.xml）。", "Not an OFD file (no OFD.xml).")
    root = parse_xml(ofd, "OFD.xml")
    bodies = children(root, "DocBody")
    if local(root.tag) != "OFD" or not bodies:
        raise DocumentError("不是 OFD 文件（OFD.xml 中没有文档）。", "Not an OFD file (OFD.xml lists no document).")
    listed: list[_Listed] = []
    doc_roots = []
    notes = [f"包内文件已损坏 damaged in the package (it does not decompress): {name}" for name in package.damaged]
    for body in bodies:
        if text_of(child(body, "DocRoot")):
            doc_roots.append(resolve("", text_of(child(body, "DocRoot"))))
        loc = text_of(child(body, "Signatures"))
        if loc and package.get(resolve("", loc)) is None:
            notes.append(f"缺少签名列表 {resolve('', loc)} the signature list {resolve('', loc)} is missing")
        elif loc:
            listed.extend(_listed(package, resolve("", loc)))
    checks = [_check(package, entry, now, roots, known_certificates) for entry in listed]
    accounted = {e.signatures_xml for e in listed}.union(*(c.covered | c.own for c in checks))
    unsigned = tuple(sorted(set(package.files) - accounted)) if checks else ()
    if not checks:
        notes.append("文件中没有签章或签名 the file carries no seal or signature")
    signatures = tuple(c.check for c in checks)
    if unsigned:
        # The public JSON has notes per signature only; each of them leaves these files uncovered.
        uncovered = "未被任何签名覆盖的文件 files covered by no signature: " + ", ".join(unsigned)
        notes.append(uncovered)
        signatures = tuple(replace(s, notes=(*s.notes, uncovered)) for s in signatures)
    images: list[ImageResource] = []
    for doc in doc_roots:
        try:
            images += page_images(package, doc)
        except DocumentError as exc:
            # Pages are read only to find images; a damaged page is the references' business.
            notes.append(f"页面图片无法列出 page images could not be listed: {exc.en}")
    covered = frozenset().union(*(c.covered - set(c.check.references_bad) for c in checks))
    images = [replace(image, covered=image.path in covered) for image in images]
    return DocumentReport("ofd", signatures, unsigned, tuple(images), tuple(notes))


def _listed(package: Package, path: str) -> list[_Listed]:
    entries = children(parse_xml(package.files[path], path), "Signature")
    base = posixpath.dirname(path)
    out = []
    for i, element in enumerate(entries):
        kind = SignatureType.SIGN if element.get("Type", "Seal").strip().lower() == "sign" else SignatureType.SEAL
        out.append(_Listed(element.get("ID", str(i + 1)), kind, resolve(base, element.get("BaseLoc", "")),
                           path, later=i < len(entries) - 1))
    return out


def _locate(package: Package, base: str, loc: str, quirks: list[str]) -> str:
    """Relative locations resolve against the naming file's folder; some writers mean the package root."""
    path = resolve(base, loc)
    if path not in package.files and not loc.startswith("/") and resolve("", loc) in package.files:
        quirks.append(f"location {loc!r} read from the package root")
        return resolve("", loc)
    return path


def _check(package: Package, entry: _Listed, now: datetime, roots: Sequence[Certificate],
           known: Sequence[Certificate]) -> _Checked:
    quirks: list[str] = []
    signature_xml = package.get(entry.path)
    if signature_xml is None:
        return _broken(entry, f"缺少 {entry.path} {entry.path} is missing")
    root = parse_xml(signature_xml, entry.path)
    signed_info = child(root, "SignedInfo")
    base = posixpath.dirname(entry.path)
    value_loc = text_of(child(root, "SignedValue"))
    if signed_info is None or not value_loc:
        return _broken(entry, "Signature.xml 缺少 SignedInfo 或 SignedValue "
                              "Signature.xml lacks SignedInfo or SignedValue")
    value_path = _locate(package, base, value_loc, quirks)
    seal = child(signed_info, "Seal")
    seal_loc = text_of(child(seal, "BaseLoc")) if seal is not None else ""
    seal_path = _locate(package, base, seal_loc, quirks) if seal_loc else None
    own = frozenset({entry.path, value_path, *([seal_path] if seal_path else [])})
    refs_bad, refs_explained, covered, ref_count, method = _references(package, signed_info, entry, base, quirks)

    signed_value = package.get(value_path)
    if signed_value is None:
        outcome = Outcome(SignatureFormat.UNKNOWN, signature_valid=False,
                          notes=[f"缺少签名值 {value_path} the signed value {value_path} is missing"])
    else:
        outcome = _signed_value(signed_value, signature_xml,
                                package.get(seal_path) if seal_path else None, [*known, *roots])
    if seal_path is not None and package.get(seal_path) is None:
        outcome.notes.append(f"缺少印章文件 {seal_path} the seal file {seal_path} is missing")
    if method.strip().lower() in gm.WEAK:
        outcome.notes.append(f"注意：文件摘要算法 {method} 已不安全，文件完整只在此算法下成立 warning: the references use "
                             f"{method}, a broken digest, so 'unchanged' holds only as far as {method} does")
    if outcome.signed_at is None:
        outcome.signed_at = loose_time(text_of(child(signed_info, "SignatureDateTime")), quirks)
    return _Checked(_summarise(entry, outcome, refs_bad, refs_explained, ref_count, now, roots, quirks),
                    frozenset(covered), own)


def _references(package: Package, signed_info: Element, entry: _Listed, base: str,
                quirks: list[str]) -> tuple[list[str], list[str], set[str], int, str]:
    """Bad and explained references, the files named, how many, and the digest (CheckMethod) used."""
    references = child(signed_info, "References")
    if references is None:
        return [], [], set(), 0, ""
    method = references.get("CheckMethod", "").strip()
    if not method:
        quirks.append("References without CheckMethod, read as MD5 (GB/T 33190's default)")
        method = "MD5"
    digest = gm.digest_for(method, quirks)
    bad: list[str] = []
    explained: list[str] = []
    covered: set[str] = set()
    refs = children(references, "Reference")
    for ref in refs:
        path = _locate(package, base, ref.get("FileRef", ""), quirks)
        covered.add(path)
        content = package.get(path)
        if content is not None and digest is not None and _matches(digest(content), text_of(child(ref, "CheckValue")),
                                                                   quirks):
            continue
        if path == entry.signatures_xml and entry.later and content is not None:
            explained.append(path)
        else:
            bad.append(path)
    if digest is None:
        quirks.append(f"unknown CheckMethod {method!r}: no reference can be checked")
    return bad, explained, covered, len(refs), method


def _matches(actual: bytes, check_value: str, quirks: list[str]) -> bool:
    """CheckValue is base64 (GB/T 33190); some writers put hex there."""
    try:
        if base64.b64decode(check_value, validate=True) == actual:
            return True
    except (binascii.Error, ValueError):
        pass
    if check_value.lower() == actual.hex():
        quirks.append("CheckValue written as hex, not base64")
        return True
    return False


def _signed_value(blob: bytes, signature_xml: bytes, seal_file: bytes | None,
                  known: Sequence[Certificate]) -> Outcome:
    quirks = []
    decoded = _base64_der(blob)
    if decoded is not None:
        blob = decoded
        quirks.append("signed value stored as base64 text, decoded")
    try:
        top = der.parse(blob)
    except DocumentError:
        top = None
    try:
        if top is not None and cms.looks_like_cms(top):
            outcome = cms.check_cms(top, signature_xml)
        elif top is not None and ses.looks_like_ses(top):
            outcome = ses.check_ses(top, signature_xml, seal_file)
        elif cms.looks_like_raw(blob):
            outcome = cms.check_raw(blob, signature_xml, known)
        else:
            outcome = Outcome(SignatureFormat.UNKNOWN, signature_valid=False,
                              notes=["签名值格式无法识别 the signed value is in no known format"])
    except DocumentError as exc:
        outcome = Outcome(SignatureFormat.UNKNOWN, signature_valid=False,
                          notes=[f"签名值无法读取 the signed value cannot be read: {exc.en}"])
    outcome.quirks[:0] = quirks
    return outcome


def _base64_der(blob: bytes) -> bytes | None:
    if not blob or blob[:1] == b"\x30" or len(blob) > 4 * 1024 * 1024:
        return None
    try:
        decoded = base64.b64decode(b"".join(blob.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if decoded[:1] == b"\x30" else None


def _summarise(entry: _Listed, out: Outcome, refs_bad: list[str], refs_explained: list[str], ref_count: int,
               now: datetime, roots: Sequence[Certificate], quirks: list[str]) -> SignatureCheck:
    notes = list(out.notes)
    if not ref_count:
        notes.append("签名没有覆盖任何文件 the signature covers no file (no References)")
    if refs_bad:
        notes.append("以下文件在签名后被改动或缺失 changed or missing since signing: " + ", ".join(refs_bad))
    if refs_explained:
        notes.append("签名列表 Signatures.xml 因其后的签章而改变，符合 GB/T 33190 第18章，不视为篡改 "
                     "Signatures.xml was changed by a later signature, as GB/T 33190 §18 allows: not tampering")
    at = out.signed_at
    valid_at_signing = None
    if out.signer is not None and at is not None:
        valid_at_signing = out.signer.valid_at(at)
        if not valid_at_signing:
            notes.append(f"签名时间 {at:%Y-%m-%d} 不在签章人证书有效期内 the signing time is outside the signer "
                         f"certificate's validity {out.signer.not_before:%Y-%m-%d}..{out.signer.not_after:%Y-%m-%d}")
    if out.maker is not None and at is not None and not out.maker.valid_at(at):
        notes.append("签名时间不在制章人证书有效期内 the signing time is outside the seal maker certificate's validity")
    if out.seal_period is not None and at is not None and not out.seal_period[0] <= at <= out.seal_period[1]:
        notes.append("签名时间不在印章有效期内 the signing time is outside the seal's validity period")
    if at is not None and at > now:
        notes.append("签名时间晚于现在 the signing time is in the future")
    trusted, trust_note = False, ""
    if out.signer is not None:
        # A signature that states no time is judged now, so certificates out of their validity never pass.
        chain_at = at or now
        chain = chain_to_roots(out.signer, roots, out.others, chain_at)
        trusted, trust_note = chain.trusted, chain.note
        if out.maker is not None and trusted:
            maker_chain = chain_to_roots(out.maker, roots, out.others, chain_at)
            if not maker_chain.trusted:
                trusted, trust_note = False, "seal maker: " + maker_chain.note
        if trusted and out.seal_name is not None and out.signer_in_seal is None:
            trusted, trust_note = False, "印章未列出签章人证书 the seal does not name the signer's certificate"
        notes.append(("可信 trusted: " if trusted else "不可信 not trusted: ") + trust_note)
    notes.extend(f"宽松读取 read leniently: {q}" for q in dict.fromkeys([*quirks, *out.quirks]))
    return SignatureCheck(
        id=entry.id, type=entry.type, format=out.format, path=entry.path,
        signature_valid=out.signature_valid, seal_valid=out.seal_valid,
        references_bad=tuple(refs_bad), references_explained=tuple(refs_explained), references_checked=ref_count,
        signer=_summary(out.signer), signer_valid_at_signing=valid_at_signing, signed_at=at,
        trusted=trusted, trust_note=trust_note, seal_name=out.seal_name, maker=_summary(out.maker),
        notes=tuple(notes),
    )


def _summary(cert: Certificate | None) -> CertSummary | None:
    return CertSummary(cert.subject, cert.issuer, cert.not_before, cert.not_after) if cert else None


def _broken(entry: _Listed, why: str) -> _Checked:
    return _Checked(SignatureCheck(
        id=entry.id, type=entry.type, format=SignatureFormat.UNKNOWN, path=entry.path, signature_valid=False,
        seal_valid=None, references_bad=(), references_explained=(), references_checked=0, signer=None,
        signer_valid_at_signing=None, signed_at=None, trusted=False, trust_note="", seal_name=None, maker=None,
        notes=(why,),
    ), frozenset(), frozenset({entry.path}))
