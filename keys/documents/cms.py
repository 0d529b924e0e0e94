"""Signatures without a seal: GB/T 35275 SignedData with SM2, and a bare SM2 signature.

    ContentInfo ::= SEQUENCE { contentType OID (1.2.156.10197.6.1.4.2.2, or PKCS#7's), [0] SignedData }
    SignedData ::= SEQUENCE { version, digestAlgorithms SET, contentInfo SEQUENCE, [0] certificates,
                              [1] crls OPTIONAL, signerInfos SET }
    SignerInfo ::= SEQUENCE { version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes,
                              digestEncryptionAlgorithm, encryptedDigest OCTET STRING, ... }

With authenticated attributes the signature is over their SET encoding and messageDigest must be SM3 of
Signature.xml; without them it is over the content: Signature.xml itself when detached, or the content
carried, which must be Signature.xml or its SM3 digest (GM/T 0099 §7.2.2; ofdrw writes a bare SignedData
so). A bare SM2 signature carries no certificate, so it is checked with the certificates the caller knows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from . import der, gm
from .certs import Certificate, read_certificate
from .errors import DocumentError
from .outcome import Outcome
from .report import SignatureFormat

SIGNED_DATA = {"1.2.156.10197.6.1.4.2.2", "1.2.840.113549.1.7.2"}
_MESSAGE_DIGEST, _SIGNING_TIME = "1.2.840.113549.1.9.4", "1.2.840.113549.1.9.5"


def looks_like_cms(top: der.Node) -> bool:
    """A ContentInfo holding SignedData, or a bare SignedData (as ofdrw writes it)."""
    try:
        kids = top.children()
        if kids[0].tag == der.OID:
            return kids[0].oid() in SIGNED_DATA
        return (kids[0].tag == der.INTEGER and kids[1].tag == der.SET and kids[2].tag == der.SEQUENCE
                and kids[2].children()[0].tag == der.OID)
    except (DocumentError, IndexError):
        return False


def looks_like_raw(blob: bytes) -> bool:
    return bool(gm.signature_forms(blob))


def check_cms(top: der.Node, signature_xml: bytes) -> Outcome:
    out = Outcome(SignatureFormat.GBT_35275)
    if top.items("SignedData", 1)[0].tag == der.OID:
        signed_data = top.items("ContentInfo", 2)[1].items("SignedData", 1)[0].items("SignedData", 4)
    else:
        signed_data = top.items("SignedData", 4)
        out.quirks.append("SignedData not wrapped in a ContentInfo")
    content = signed_data[2].items("contentInfo", 1)
    # Detached, the signed message is Signature.xml; attached, it is Signature.xml itself or, as GM/T 0099
    # §7.2.2 has it (and ofdrw writes), its SM3 digest.
    message = signature_xml
    if len(content) > 1:
        attached = content[1].items("content", 1)[0].octets() if content[1].tag == 0xA0 else content[1].octets()
        if attached in (signature_xml, gm.sm3(signature_xml)):
            message = attached
        elif _base64(attached) == gm.sm3(signature_xml):
            message = attached
            out.quirks.append("content carries the SM3 digest as base64 text")
        else:
            out.notes.append("签名内含的数据不是本 Signature.xml the data inside the signature is not this Signature.xml")
            out.signature_valid = False
    certs = []
    for node in signed_data[3:]:
        if node.tag == 0xA0:
            certs = [c for c in (read_certificate(n.raw) for n in node.children()) if c is not None]
    signer_infos = signed_data[-1].expect(der.SET, "signerInfos").children()
    if len(signer_infos) != 1:
        out.notes.append(f"{len(signer_infos)} 个签名者 {len(signer_infos)} signer infos; one expected")
        out.signature_valid = False
        return out
    info = signer_infos[0].items("SignerInfo", 5)
    named = _named_by(info[1], certs)
    rest = info[3:]
    attrs = rest[0] if rest[0].tag == 0xA0 else None
    if attrs is not None:
        rest = rest[1:]
    if len(rest) < 2:
        raise DocumentError("签名者信息不完整。", "SignerInfo is incomplete.")
    alg, signature = rest[0].items("signature algorithm", 1)[0].oid(), rest[1].octets()
    if attrs is None:
        signed, digest_ok = message, True
    else:
        values = _attributes(attrs)
        digest = values.get(_MESSAGE_DIGEST)
        digest_ok = digest is not None and digest.octets() in (gm.sm3(signature_xml), gm.sm3(message))
        if not digest_ok:
            out.notes.append("messageDigest 与 Signature.xml 不符 messageDigest does not match SM3 of Signature.xml")
        if _SIGNING_TIME in values:
            out.signed_at = values[_SIGNING_TIME].time(out.quirks)
        signed = der.tlv(der.SET, attrs.value)
    if named is None:
        # A subjectKeyIdentifier, or an unreadable sid: the certificate that verifies is the signer's.
        named = next((c for c in certs if c.verifies(signature, signed, [])), None)
        if named is not None:
            out.quirks.append("signer found by its signature, not by issuer and serial number")
    out.signer = named
    if out.signer is None:
        out.notes.append("签名中没有签名者证书 the signer's certificate is not in the signature")
    else:
        out.quirks.extend(out.signer.quirks)
    out.others = tuple(c for c in certs if c is not out.signer)
    if alg not in gm.SM2_SIGNATURE_ALGS:
        out.notes.append(f"签名算法 {alg} 不受支持 signature algorithm {alg} is not supported")
        return out
    verified = out.signer is not None and out.signer.verifies(signature, signed, out.quirks)
    if out.signer is not None and not verified:
        out.notes.append("签名者的签名无效 the signer's signature does not verify")
    if out.signature_valid is None:
        out.signature_valid = verified and digest_ok if out.signer is not None else None
    return out


def _base64(data: bytes) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _named_by(sid: der.Node, certs: list[Certificate]) -> Certificate | None:
    """The certificate an issuerAndSerialNumber names; None for any other form of signer identifier."""
    if sid.tag != der.SEQUENCE:
        return None
    try:
        issuer, serial = sid.items("issuerAndSerialNumber", 2)[:2]
    except DocumentError:
        return None
    return next((c for c in certs if c.issuer_name == issuer.raw and c.serial == serial.value), None)


def _attributes(attrs: der.Node) -> dict[str, der.Node]:
    found = {}
    for attr in attrs.children():
        kids = attr.items("attribute", 2)
        values = kids[1].children()
        if values:
            found[kids[0].oid()] = values[0]
    return found


def check_raw(blob: bytes, signature_xml: bytes, candidates: Sequence[Certificate]) -> Outcome:
    """A bare SM2 signature over Signature.xml: valid when one of the known certificates verifies it."""
    out = Outcome(SignatureFormat.RAW_SM2)
    for cert in candidates:
        if cert.verifies(blob, signature_xml, out.quirks):
            out.signer, out.signature_valid = cert, True
            return out
    out.notes.append("裸 SM2 签名不带证书，已知证书均不能验证 a bare SM2 signature carries no certificate, "
                     "and no certificate known here verifies it")
    return out
