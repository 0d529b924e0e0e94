"""Electronic seals: SES v4 (GB/T 38540-2020) and SES v1 (GM/T 0031-2014), read and checked.

    v4  SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING, signatureAlgID OID,
                                     signature BIT STRING, timeStamp [0] BIT STRING OPTIONAL }
        TBS_Sign ::= SEQUENCE { version INTEGER(4), eseal SESeal, timeInfo GeneralizedTime,
                                dataHash BIT STRING, propertyInfo IA5String, extDatas [0] OPTIONAL }
        SESeal ::= SEQUENCE { esealInfo SES_SealInfo, cert OCTET STRING, signAlgID OID, signedValue BIT STRING }
    v1  SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }
        TBS_Sign ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo BIT STRING, dataHash BIT STRING,
                                propertyInfo IA5String, cert OCTET STRING, signatureAlgorithm OID }
        SESeal ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SEQUENCE { cert, signatureAlgorithm, signData } }
    SES_SealInfo ::= SEQUENCE { header SEQUENCE { ID "ES", version, Vid }, esID, property, picture, ext OPTIONAL }

The signer signs TBS_Sign's bytes; dataHash is SM3 of the Signature.xml bytes. The seal maker signs the
seal: seal systems sign SES_SealInfo alone (v4, as the samples show) or SEQUENCE{esealInfo, cert, alg}
(v1); either binds the seal's content to the maker's key, so either is accepted, and the other form noted.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from . import der, gm
from .certs import Certificate, read_certificate
from .errors import DocumentError
from .outcome import Outcome, loose_time
from .report import SignatureFormat


def looks_like_ses(top: der.Node) -> bool:
    try:
        kids = top.children()
        return (top.tag == der.SEQUENCE and len(kids) >= 2 and kids[0].tag == der.SEQUENCE
                and kids[0].children()[0].tag == der.INTEGER)
    except (DocumentError, IndexError):
        return False


def check_ses(top: der.Node, signature_xml: bytes, seal_file: bytes | None) -> Outcome:
    """`top` is the SignedValue; the version follows the structure (v1 has two fields, v4 four or five)."""
    kids = top.children()
    v4 = len(kids) >= 4
    out = Outcome(SignatureFormat.SES_V4 if v4 else SignatureFormat.SES_V1)
    tbs = kids[0]
    fields = tbs.items("TBS_Sign", 5 if v4 else 7)
    if v4:
        signer_der, alg, signature = _cert_blob(kids[1], out.quirks), kids[2].oid(), kids[3].bits()
        out.signed_at = fields[2].time(out.quirks)
    else:
        signer_der, alg, signature = _cert_blob(fields[5], out.quirks), fields[6].oid(), kids[1].bits()
        out.signed_at = _v1_time(fields[2], out.quirks)
    version = fields[0].integer()
    if version != (4 if v4 else 1):
        out.quirks.append(f"TBS_Sign version {version} in a {out.format.value} structure")
    if fields[3].tag == der.OCTET_STRING:
        out.quirks.append("dataHash in an OCTET STRING, not a BIT STRING")
        data_hash = fields[3].value
    else:
        data_hash = fields[3].bits()
    out.signer = _certificate(signer_der, "signer", out)
    seal = fields[1].expect(der.SEQUENCE, "SESeal")
    _check_seal(seal, v4, out, seal_file)

    if alg not in gm.SM2_SIGNATURE_ALGS:
        out.notes.append(f"签名算法 {alg} 不受支持 signature algorithm {alg} is not supported")
        return out
    signed = out.signer is not None and out.signer.verifies(signature, tbs.raw, out.quirks)
    hash_ok = data_hash == gm.sm3(signature_xml)
    if not signed:
        out.notes.append("签章人的签名无效 the signer's signature over TBS_Sign does not verify")
    if not hash_ok:
        out.notes.append("dataHash 与 Signature.xml 不符 dataHash does not match SM3 of Signature.xml")
    out.signature_valid = signed and hash_ok
    if out.signer is not None and out.signer_in_seal is False:
        # Someone else's genuine seal used with one's own certificate: the seal is not this signer's.
        out.notes.append("签章人证书不在印章的证书列表中 the signer's certificate is not among the seal's certificates")
        out.seal_valid = False
    elif out.signer is not None and out.signer_in_seal is None:
        # A list that cannot be read binds the seal to no one: the maker's signature over the seal may still
        # hold (seal_valid), but a genuine seal would then pass with any signer, so it is never trusted.
        out.notes.append("印章的证书列表无法读取或没有证书，不能确认签章人 the seal's certificate list is unreadable or empty, so it does "
                         "not show the signer's certificate")
    return out


def _cert_blob(node: der.Node, quirks: list[str]) -> bytes:
    """A certificate field: an OCTET STRING holding the DER; some writers put the certificate itself."""
    if node.tag == der.SEQUENCE:
        quirks.append("certificate embedded as a SEQUENCE, not inside an OCTET STRING")
        return node.raw
    return node.octets()


def _v1_time(node: der.Node, quirks: list[str]) -> datetime | None:
    """GM/T 0031's timeInfo is a BIT STRING holding the time as text; writers also use an OCTET STRING
    or a time type."""
    if node.tag in (der.UTC_TIME, der.GENERALIZED_TIME):
        return node.time(quirks)
    text = node.bits() if node.tag == der.BIT_STRING else node.value
    return loose_time(text.decode("latin-1"), quirks)


def _certificate(blob: bytes, role: str, out: Outcome) -> Certificate | None:
    cert = read_certificate(blob)
    if cert is None:
        out.notes.append(f"无法读取{'签章人' if role == 'signer' else '制章人'}证书 the {role} certificate cannot be read")
        return None
    out.quirks.extend(cert.quirks)
    return cert


def _check_seal(seal: der.Node, v4: bool, out: Outcome, seal_file: bytes | None) -> None:
    parts = seal.items("SESeal", 4 if v4 else 2)
    info = parts[0].expect(der.SEQUENCE, "SES_SealInfo")
    if v4:
        cert_node, alg_node, value = parts[1], parts[2], parts[3].bits()
    else:
        sign_info = parts[1].items("SES_SignInfo", 3)
        cert_node, alg_node, value = sign_info[0], sign_info[1], sign_info[2].bits()
    maker_der = _cert_blob(cert_node, out.quirks)
    try:
        _read_seal_info(info, v4, out)
    except DocumentError as exc:
        # What the seal shows is informative; its maker's signature over the bytes is what counts.
        out.quirks.append(f"seal information partly unreadable ({exc.en})")
    out.maker = _certificate(maker_der, "maker", out)
    forms = [info.raw, der.seq(info.raw, cert_node.raw, alg_node.raw)]
    usual, other = (forms[0], forms[1]) if v4 else (forms[1], forms[0])
    valid = False
    if out.maker is not None and alg_node.oid() in gm.SM2_SIGNATURE_ALGS:
        valid = out.maker.verifies(value, usual, out.quirks)
        if not valid and out.maker.verifies(value, other, out.quirks):
            valid = True
            out.quirks.append("seal maker signed " + ("SEQUENCE{esealInfo, cert, alg}" if v4 else "esealInfo alone"))
    if not valid:
        out.notes.append("制章人对印章的签名无效 the seal maker's signature over the seal does not verify")
    matches = True
    if seal_file is not None and seal_file != seal.raw:
        matches = False
        out.notes.append("印章文件与签章中的印章不一致 the seal file differs from the seal inside the signature")
    out.seal_valid = valid and matches


def _read_seal_info(info: der.Node, v4: bool, out: Outcome) -> None:
    fields = info.items("SES_SealInfo", 4)
    header = fields[0].items("SES_Header", 2)
    if header[0].text(out.quirks) != "ES":
        out.quirks.append("seal header ID is not 'ES'")
    prop = fields[2].items("SES_ESPropertyInfo", 6 if v4 else 5)
    out.seal_name = prop[1].text(out.quirks)
    if v4:
        list_type, cert_list, times = _int_or_none(prop[2], out.quirks), prop[3], prop[4:7]
    else:
        list_type, cert_list, times = 1, prop[2], prop[3:6]
    if len(times) == 3:
        try:
            out.seal_period = (times[1].time(out.quirks), times[2].time(out.quirks))
        except DocumentError:
            out.quirks.append("seal validity period unreadable")
    if out.signer is not None:
        out.signer_in_seal = _lists_signer(cert_list, list_type, out.signer, out.quirks)


def _int_or_none(node: der.Node, quirks: list[str]) -> int | None:
    try:
        return node.integer(quirks)
    except DocumentError:
        return None


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 - finding a certificate by its digest, not security


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_CERT_DIGESTS: tuple[gm.Digest, ...] = (gm.sm3, _sha1, _sha256)


def _lists_signer(cert_list: der.Node, list_type: int | None, signer: Certificate, quirks: list[str]) -> bool | None:
    """Whether the seal names the signer's certificate (GB/T 38540: certs, or digests of them)."""
    if list_type not in (1, 2):
        quirks.append(f"non-standard certListType {list_type}")
    try:
        entries = cert_list.children()
    except DocumentError:
        quirks.append("seal certificate list unreadable")
        return None
    for entry in entries:
        if entry.tag == der.OCTET_STRING and entry.value == signer.der:
            return True
        if entry.tag == der.SEQUENCE:
            kids = entry.children()
            if len(kids) == 2 and kids[1].tag == der.OCTET_STRING:
                if any(kids[1].value == digest(signer.der) for digest in _CERT_DIGESTS):
                    return True
    if not any(e.tag in (der.OCTET_STRING, der.SEQUENCE) for e in entries):
        quirks.append("seal certificate list holds no certificate")
        return None
    return False
