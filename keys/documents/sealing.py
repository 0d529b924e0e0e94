"""Sealing an OFD package: an SES v4 (GB/T 38540) or v1 (GM/T 0031) seal over every file it holds.

As GB/T 33190 §18 describes: a Signature.xml whose References give the digest (SM3) of every package
file except Signatures.xml (so later seals can follow) and the new signature's own files; the seal
file beside it; the SES_Signature over SM3(Signature.xml) in SignedValue.dat.
"""

from __future__ import annotations

import base64
import io
import posixpath
import re
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import quoteattr

from . import der, gm
from .errors import DocumentError
from .package import Package, child, children, parse_xml, resolve, text_of
from .seal_keys import SealIdentity

OFD_NS = "http://www.ofdspec.org/2016"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SealSpec:
    """What the seal shows and where: the picture is PNG, sizes in millimetres, on a 1-based page."""

    name: str
    picture: bytes
    page: int = 1
    boundary: tuple[float, float, float, float] = (140.0, 230.0, 40.0, 40.0)
    seal_type: int = 1          # GB/T 38540: 1 = 单位印章 (an organisation's seal)


def seal_ofd(ofd: bytes, signer: SealIdentity, spec: SealSpec, now: datetime,
             maker: SealIdentity | None = None, version: int = 4, esl: bytes | None = None,
             document: int = 0) -> bytes:
    """`ofd` sealed once more. `maker` makes the seal (defaults to the signer: a self-made seal), unless
    `esl` gives a seal made elsewhere (a seal system's .esl file, of the same SES version). `document`
    is the index of the DocBody whose Signatures.xml lists the seal."""
    if version not in (1, 4):
        raise DocumentError("只支持 SES v1 与 v4。", "Only SES v1 and v4 are supported.")
    maker = maker or signer
    files = dict(Package.open(ofd).files)
    ofd_xml = files.get("OFD.xml")
    if ofd_xml is None:
        raise DocumentError("不是 OFD 文件（缺少 OFD.xml）。", "Not an OFD file (no OFD.xml).")
    bodies = children(parse_xml(ofd_xml, "OFD.xml"), "DocBody")
    body = bodies[document] if 0 <= document < len(bodies) else None
    if body is None or not text_of(child(body, "DocRoot")):
        raise DocumentError("OFD.xml 中没有文档。", "OFD.xml lists no document.")
    doc_path = resolve("", text_of(child(body, "DocRoot")))
    doc_dir = posixpath.dirname(doc_path)
    signatures_path = resolve("", text_of(child(body, "Signatures")) or f"{doc_dir}/Signs/Signatures.xml")
    if not text_of(child(body, "Signatures")):
        files["OFD.xml"] = _insert_before_close(ofd_xml, "DocBody",
                                                f"<ofd:Signatures>/{signatures_path}</ofd:Signatures>", document)
    page_id = _page_id(files, doc_path, spec.page)
    number = _next_sign_number(files, signatures_path)
    sign_dir = f"{posixpath.dirname(signatures_path)}/Sign_{number}"
    sign_id = f"s{number:03d}"
    signature_path, value_path, seal_path = (f"{sign_dir}/Signature.xml", f"{sign_dir}/SignedValue.dat",
                                             f"{sign_dir}/Seal.esl")
    seal = esl if esl is not None else _seal(maker, signer, spec, now, version)
    files[seal_path] = seal
    references = "".join(
        f'<ofd:Reference FileRef={quoteattr("/" + name)}><ofd:CheckValue>'
        f'{base64.b64encode(gm.sm3(data)).decode()}</ofd:CheckValue></ofd:Reference>'
        for name, data in sorted(files.items()) if name != signatures_path)
    x, y, w, h = spec.boundary
    signature_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature xmlns:ofd="{OFD_NS}"><ofd:SignedInfo>'
        '<ofd:Provider ProviderName="crane-verify" Company="crane-verify" Version="1"/>'
        f'<ofd:SignatureMethod>{gm.SM2_WITH_SM3}</ofd:SignatureMethod>'
        f'<ofd:SignatureDateTime>{now:%Y%m%d%H%M%S}Z</ofd:SignatureDateTime>'
        f'<ofd:References CheckMethod="{gm.SM3}">{references}</ofd:References>'
        f'<ofd:StampAnnot ID="{sign_id}a" PageRef="{page_id}" Boundary="{x:g} {y:g} {w:g} {h:g}"/>'
        f'<ofd:Seal><ofd:BaseLoc>/{seal_path}</ofd:BaseLoc></ofd:Seal>'
        f'</ofd:SignedInfo><ofd:SignedValue>/{value_path}</ofd:SignedValue></ofd:Signature>'
    ).encode()
    files[signature_path] = signature_xml
    files[value_path] = _ses_signature(seal, signer, signature_xml, "/" + signature_path, now, version)
    files[signatures_path] = _list_signature(files.get(signatures_path), sign_id, "/" + signature_path, number)
    return write_package(files)


def write_package(files: dict[str, bytes]) -> bytes:
    """A zip with OFD.xml first and fixed member times, so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n != "OFD.xml", n)):
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), files[name], zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _seal(maker: SealIdentity, signer: SealIdentity, spec: SealSpec, now: datetime, version: int) -> bytes:
    """SESeal: the seal's information, signed by its maker, naming the signer's certificate."""
    time = der.gtime if version == 4 else der.utctime
    start, end = now - timedelta(days=1), min(signer.certificate.not_after, now + timedelta(days=5 * 365))
    header = der.seq(der.ia5("ES"), der.integer(version), der.ia5("crane-verify"))
    certs = der.seq(der.octets(signer.certificate.der))
    prop = ([der.integer(spec.seal_type), der.utf8(spec.name)] + ([der.integer(1)] if version == 4 else [])
            + [certs, time(now), time(start), time(end)])
    picture = der.seq(der.ia5("PNG"), der.octets(spec.picture), der.integer(round(spec.boundary[2])),
                      der.integer(round(spec.boundary[3])))
    info = der.seq(header, der.ia5(secrets.token_hex(8)), der.seq(*prop), picture)
    cert, alg = der.octets(maker.certificate.der), der.oid(gm.SM2_WITH_SM3)
    if version == 4:
        return der.seq(info, cert, alg, der.bits(gm.sign(maker.key, info)))
    signed = gm.sign(maker.key, der.seq(info, cert, alg))
    return der.seq(info, der.seq(cert, alg, der.bits(signed)))


def _ses_signature(seal: bytes, signer: SealIdentity, signature_xml: bytes, path: str, now: datetime,
                   version: int) -> bytes:
    cert, alg = der.octets(signer.certificate.der), der.oid(gm.SM2_WITH_SM3)
    data_hash = der.bits(gm.sm3(signature_xml))
    if version == 4:
        tbs = der.seq(der.integer(4), seal, der.gtime(now), data_hash, der.ia5(path))
        return der.seq(tbs, cert, alg, der.bits(gm.sign(signer.key, tbs)))
    tbs = der.seq(der.integer(1), seal, der.bits(f"{now:%Y%m%d%H%M%S}Z".encode()), data_hash, der.ia5(path),
                  cert, alg)
    return der.seq(tbs, der.bits(gm.sign(signer.key, tbs)))


def _page_id(files: dict[str, bytes], doc_path: str, page: int) -> str:
    document = files.get(doc_path)
    if document is None:
        raise DocumentError(f"缺少 {doc_path}。", f"{doc_path} is missing.")
    pages = child(parse_xml(document, doc_path), "Pages")
    listed = children(pages, "Page") if pages is not None else []
    if not 1 <= page <= len(listed):
        raise DocumentError(f"文档没有第 {page} 页。", f"The document has no page {page}.")
    return listed[page - 1].get("ID", str(page))


def _next_sign_number(files: dict[str, bytes], signatures_path: str) -> int:
    """A number whose Sign_N folder and sN ID are both unused, whatever scheme earlier sealers chose."""
    listed = files.get(signatures_path)
    ids = set()
    if listed is not None:
        ids = {e.get("ID", "") for e in children(parse_xml(listed, signatures_path), "Signature")}
    folder = posixpath.dirname(signatures_path)
    number = len(ids) + 1
    while f"s{number:03d}" in ids or any(n.startswith(f"{folder}/Sign_{number}/") for n in files):
        number += 1
    return number


def _list_signature(signatures_xml: bytes | None, sign_id: str, path: str, number: int) -> bytes:
    entry = f'<ofd:Signature ID="{sign_id}" Type="Seal" BaseLoc="{path}"/>'
    if signatures_xml is None:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures xmlns:ofd="{OFD_NS}">'
                f'<ofd:MaxSignId>{number}</ofd:MaxSignId>{entry}</ofd:Signatures>').encode()
    updated = re.sub(rb"(<(?:\w+:)?MaxSignId>)[^<]*(</)", rb"\g<1>" + str(number).encode() + rb"\g<2>",
                     signatures_xml, count=1)
    return _insert_before_close(updated, "Signatures", entry)


def _insert_before_close(xml: bytes, element: str, fragment: str, occurrence: int = 0) -> bytes:
    """Text insertion, not a re-serialisation: the rest of the file keeps its bytes and prefixes."""
    found = list(re.finditer(rb"</(\w+:)?" + element.encode() + rb"\s*>", xml))
    closing = found[occurrence] if occurrence < len(found) else None
    if closing is None:
        raise DocumentError(f"找不到 {element} 元素。", f"No {element} element found.")
    prefix = (closing.group(1) or b"").decode()
    return xml[:closing.start()] + fragment.replace("ofd:", prefix).encode("utf-8") + xml[closing.start():]
