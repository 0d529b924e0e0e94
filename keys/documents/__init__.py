"""Signed OFD documents (GB/T 33190): verify their electronic seals and signatures, and make demo ones.

Pure: bytes and a time in, a typed report out; no Flask, Redis or OpenCV (images are listed for the
caller to decode). See docs/documents.md.
"""

from .certs import Certificate, ChainResult, chain_to_roots, load_pem_certificates
from .errors import DocumentError
from .report import CertSummary, DocumentReport, ImageResource, SignatureCheck, SignatureFormat, SignatureType
from .verify import verify_document

__all__ = [
    "CertSummary", "Certificate", "ChainResult", "DocumentError", "DocumentReport", "ImageResource",
    "SignatureCheck", "SignatureFormat", "SignatureType", "chain_to_roots", "load_pem_certificates",
    "verify_document",
]
