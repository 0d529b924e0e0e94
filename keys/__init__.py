"""Trust and crypto core: identifiers, keys, the trust list and the signed QR payload.

Imports neither Flask nor Redis nor OpenCV: the service and the scanner both build on it.
"""

from .algorithms import Alg, PrivateKey, PublicKey, kid_of
from .answer import Answer, IssuerRef, Signature, SignatureResult, Source, State, Status, Verdict, decide
from .errors import CraneError, IdentifierError, KeyFileError, RecordError, TrustListError
from .identifiers import LicenceId, validate_credit_code
from .payload import Claims, Verification, issue, verify_at
from .record import Category, Record
from .trustlist import KeyRole, KeyState, SignedTrustList, TrustedIssuer, TrustedKey, TrustList

__all__ = [
    "Alg", "Answer", "Category", "Claims", "CraneError", "IdentifierError", "IssuerRef", "KeyFileError", "KeyRole",
    "KeyState", "LicenceId", "PrivateKey", "PublicKey", "Record", "RecordError", "Signature", "SignatureResult",
    "SignedTrustList", "Source", "State", "Status", "TrustList", "TrustListError", "TrustedIssuer", "TrustedKey",
    "Verdict", "Verification", "decide", "issue", "kid_of", "validate_credit_code", "verify_at",
]
