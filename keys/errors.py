"""One base error for the trust core, with a message a person can read."""


class CraneError(Exception):
    """Base of every error this project raises on purpose."""


class IdentifierError(CraneError, ValueError):
    """An identifier (e-licence identifier, credit code) is not well formed."""


class RecordError(CraneError, ValueError):
    """A certificate record failed validation; `problems` names every bad field (why: Chinese / English)."""

    def __init__(self, problems: dict[str, str]):
        self.problems = dict(problems)
        listed = "; ".join(f"{field}: {why}" for field, why in self.problems.items())
        super().__init__(f"证书记录有误 / invalid certificate record: {listed}")


class KeyFileError(CraneError):
    """A key file cannot be read, or holds a key of an unsupported type."""


class TrustListError(CraneError):
    """A trust list is malformed, or its signature does not check against the pinned root."""
