"""One scanned code's verdict: the service's answer object plus where the code was and how it was checked.

Online and offline answers are the same keys.answer.Answer (online read with Answer.from_json, docs/api.md
"Answers"); the site cross-check (`--expect-record`, `--expect-serial`, `--expect-project`) adds its
mismatches to either, and the answer's verdict, decided by keys.answer.decide, then reads 证书与设备不符
for a valid certificate of another crane or site however it was checked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from keys.answer import STATE_LABELS, Answer, SignatureResult, State


@dataclass(frozen=True)
class Expectations:
    """What the crane in front of the inspector says about itself, from its plate and the site board."""

    record_no: str | None = None
    factory_serial: str | None = None
    project: str | None = None

    def __bool__(self) -> bool:
        return any((self.record_no, self.factory_serial, self.project))

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in (("record_no", self.record_no), ("factory_serial", self.factory_serial),
                                  ("project", self.project)) if v}


_SPACE = re.compile(r"[\s\u3000\u00a0·・•\-_—–]+")


def normalise(text: str) -> str:
    """Full-width to half-width (NFKC), no whitespace or separator dashes, case folded."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _identifier(text: str) -> str:
    # Plates are stamped and painted: spaces and full-width letters differ, the characters do not.
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def mismatches(certificate: dict[str, Any] | None, expect: Expectations) -> tuple[str, ...]:
    """Names of the expected fields this certificate states otherwise (or does not state)."""
    if not expect or not isinstance(certificate, dict):
        return ()
    equipment, project = _section(certificate, "equipment"), _section(certificate, "project")
    found: list[str] = []
    if expect.record_no and _identifier(str(equipment.get("record_no") or "")) != _identifier(expect.record_no):
        found.append("record_no")
    if expect.factory_serial and (_identifier(str(equipment.get("factory_serial") or ""))
                                  != _identifier(expect.factory_serial)):
        found.append("factory_serial")
    if expect.project:
        stated = normalise(str(project.get("name") or ""))
        wanted = normalise(expect.project)
        # The site board and the certificate rarely agree to the character: either may be the shorter.
        if not stated or not wanted or (wanted not in stated and stated not in wanted):
            found.append("project")
    return tuple(found)


def _section(certificate: dict[str, Any], name: str) -> dict[str, Any]:
    part = certificate.get(name)
    return part if isinstance(part, dict) else {}


def cross_check(answer: Answer, expect: Expectations) -> Answer:
    """The answer with the mismatches against what the crane says about itself (its verdict follows)."""
    if not expect:
        return answer
    return replace(answer, mismatches=mismatches(answer.certificate, expect))


class Mark(Enum):
    """Never colour alone: each verdict has an icon and words; the colour only repeats them."""

    OK = ("✔", "green")
    BAD = ("✖", "red")
    WARN = ("⚠", "yellow")
    UNKNOWN = ("?", "blue")

    @property
    def icon(self) -> str:
        return self.value[0]

    @property
    def colour(self) -> str:
        return self.value[1]

    @property
    def rgb(self) -> tuple[int, int, int]:
        return {"green": (0, 150, 60), "red": (210, 30, 30), "yellow": (225, 160, 0), "blue": (40, 90, 200)}[self.colour]


BAD_SIGNATURES = frozenset({SignatureResult.INVALID, SignatureResult.MALFORMED, SignatureResult.KEY_REVOKED,
                   SignatureResult.KEY_NOT_VALID_AT_ISSUE})


# As the public page marks them (verify_api/pages.py), so one certificate never reads ✔ on the laptop and ✖
# on the phone: a suspended certificate may not be used, and a paper one is to be checked against its original.
STATE_MARKS = {
    State.VALID: Mark.OK, State.PAPER_LEGACY: Mark.WARN, State.ENDED: Mark.BAD, State.SUPERSEDED: Mark.BAD,
    State.REVOKED: Mark.BAD, State.SUSPENDED: Mark.BAD, State.NOT_FOUND: Mark.UNKNOWN, State.UNKNOWN: Mark.UNKNOWN,
}


def mark_for(answer: Answer) -> Mark:
    signature, state = answer.signature.result, answer.status.state
    if signature is SignatureResult.MALFORMED:
        return Mark.UNKNOWN  # another QR code or a damaged one: not evidence of forgery
    if signature in BAD_SIGNATURES or signature is SignatureResult.UNKNOWN_KEY:
        return Mark.BAD
    if answer.mismatches:
        return Mark.BAD  # a certificate of another crane or site, whatever its state
    if state is State.VALID and signature is SignatureResult.NOT_APPLICABLE:
        return Mark.WARN
    return STATE_MARKS[state]


@dataclass
class Checked:
    """What a checker (online or offline) says about one QR text."""

    answer: Answer
    mode: str                      # "online" | "offline"
    data_age_s: int | None
    notes: list[str] = field(default_factory=list)
    clock_before_sync: bool = False
    expected: Expectations = field(default_factory=Expectations)

    def cross_check(self, expect: Expectations) -> None:
        """Compare the certificate with what the crane and the site board say (--expect-*)."""
        self.answer, self.expected = cross_check(self.answer, expect), expect


@dataclass
class Finding:
    """One code in one source (an image file, or a video or camera frame)."""

    file: str
    text: str
    points: list[list[float]]
    engine: str
    checked: Checked
    frame: int | None = None
    time_s: float | None = None

    @property
    def answer(self) -> Answer:
        return self.checked.answer

    @property
    def ok(self) -> bool:
        return self.answer.verdict.ok

    @property
    def mark(self) -> Mark:
        return mark_for(self.answer)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.answer.to_json())  # the answer, and what the scan adds to it
        if self.checked.expected:
            out.pop("mismatches", None)
            out.update(expected=self.checked.expected.to_json(), mismatches=list(self.answer.mismatches))
        out.update(file=self.file, points=self.points, mode=self.checked.mode, data_age_s=self.checked.data_age_s,
                   text=self.text, engine=self.engine, notes=list(self.checked.notes),
                   clock_before_sync=self.checked.clock_before_sync)
        if self.frame is not None:
            out.update(frame=self.frame, time_s=self.time_s)
        return out


def state_label(answer: Answer) -> tuple[str, str]:
    return STATE_LABELS[answer.status.state]
