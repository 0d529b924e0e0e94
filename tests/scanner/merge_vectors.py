"""Online-merge vectors (docs/test-vectors/merge.json): the service's answer JSON and the device's own answer
-> the answer shown, as scanner/online.py second_opinion decides it and webapp/src/core/merge.js must too.
Written by tests/keys/vectors.py beside the payload vectors; the expected side is what the Python rule gives.

The service's body is read as keys.answer.Answer.from_json reads it: a body of another shape, or one whose
verdict.ok disagrees with its signature and state, is a service that did not answer (`unreachable`).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from keys.answer import Answer, AnswerError, IssuerRef, Signature, SignatureResult, Source, State, Status

MERGE_FILE = "merge.json"
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=CST)
DATA_TIME = datetime(2026, 11, 24, 8, 0, tzinfo=CST)
SIGNED = {"registration_no": "辽A-SY-2025-00456", "version": 1, "issued_on": "2025-02-26",
          "equipment": {"category": "tower_crane", "model": "QTZ80(TC5610-6)", "record_no": "辽A-T-2025-0456",
                        "factory_serial": "TC-2025-0456"},
          "project": {"name": "沈阳浑南新区住宅项目", "position": "3#楼"}}
ISSUER = IssuerRef("210100", "沈阳市城乡建设局")


def _answer(result: SignatureResult, state: State, certificate: dict[str, Any] | None, *, offline: bool = False,
            reason: str = "", since: datetime | None = None) -> dict[str, Any]:
    signature = Signature(result, "860c93e5ed1f791c" if result is not SignatureResult.MALFORMED else None,
                          "EdDSA" if result is not SignatureResult.MALFORMED else None,
                          ISSUER if result is SignatureResult.VALID else None)
    status = Status(state, reason, since, Source.OFFLINE if offline else Source.REGISTRY,
                    data_time=DATA_TIME if offline else None)
    return dict(Answer(signature, status, NOW, copy.deepcopy(certificate)).to_json())


def merged(service: Any, local: dict[str, Any] | None) -> dict[str, Any]:
    """What scanner/online.py makes of them: {"unreachable": true}, or the answer and the notes."""
    from scanner.online import second_opinion  # the scanner is the reference; keys/ tests need not load it
    from scanner.verdicts import Checked

    try:
        answer = Answer.from_json(service)
    except AnswerError:
        return {"unreachable": True}
    mine = None if local is None else Checked(Answer.from_json(local), "offline", 7200)
    checked = second_opinion(Checked(answer, "online", 0), mine)
    return {"unreachable": False, "answer": checked.answer.to_json(), "notes": checked.notes}


def merge_doc(vectors: Any) -> dict[str, Any]:
    """`vectors` is tests.keys.vectors (its format number)."""
    S, T = SignatureResult, State
    shown = {**copy.deepcopy(SIGNED), "project": {**SIGNED["project"], "name": "另一个工地", "address": "浑南区某路 1 号"},
             "equipment": {**SIGNED["equipment"], "factory_serial": "TC-FORGED"}}
    valid = _answer(S.VALID, T.VALID, SIGNED)
    lying_ok = {**_answer(S.VALID, T.REVOKED, SIGNED), "verdict": {**valid["verdict"]}}
    no_time = {k: v for k, v in valid.items() if k != "checked_at"}
    revoked_at = datetime(2026, 11, 20, 10, 0, tzinfo=CST)

    def case(name: str, description: str, service: Any, local: dict[str, Any] | None) -> dict[str, Any]:
        return {"name": name, "description": description, "service": service, "local": local,
                "expected": merged(service, local)}

    return {
        "vector_format": vectors.VECTOR_FORMAT,
        "description": "The service's answer (the JSON body of its 200) and the device's own answer from its "
                       "synced trust list and feed (null: none) -> the answer shown and its notes, or "
                       "`unreachable` when the body is no answer (read as keys.answer.Answer.from_json reads "
                       "it), in which case the device's answer stands with a note.",
        "cases": [
            case("agree", "Both say valid: the service's answer, no note.", valid,
                 _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("no-local-answer", "No offline data: the service's word alone, said so.", valid, None),
            case("local-invalid-wins", "The device finds the signature invalid: it stands over the service's "
                 "valid.", valid, _answer(S.INVALID, T.UNKNOWN, None, offline=True)),
            case("local-unknown-key-wins-over-valid", "The synced list does not hold the key the service calls "
                 "valid: not taken as good.", valid, _answer(S.UNKNOWN_KEY, T.UNKNOWN, None, offline=True)),
            case("service-unknown-key-stays", "The service does not know the key though the device does: the "
                 "service's unknown_key stands (only a worse local result overrides).",
                 _answer(S.UNKNOWN_KEY, T.UNKNOWN, None), _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("feed-revoked-wins", "The signed feed says revoked, the service valid: revoked is never undone.",
                 valid, _answer(S.VALID, T.REVOKED, SIGNED, offline=True, reason="登记证书被撤销 / revoked",
                                since=revoked_at)),
            case("feed-ended-wins", "The signed feed says ended: it outweighs the service's valid.", valid,
                 _answer(S.VALID, T.ENDED, SIGNED, offline=True, reason="设备已拆卸 / dismantled", since=revoked_at)),
            case("feed-suspended-does-not-win", "A suspension may be lifted: the service's newer word stands.",
                 valid, _answer(S.VALID, T.SUSPENDED, SIGNED, offline=True, since=revoked_at)),
            case("signed-fields-shown", "The service shows other values for signed fields: the signed code's "
                 "are shown (and compared with the plate), its own unsigned ones kept, the differences noted.",
                 _answer(S.VALID, T.VALID, shown), _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("service-without-certificate", "The service shows no certificate: the signed fields, no note.",
                 _answer(S.VALID, T.VALID, None), _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("service-verdict-disagrees", "The service says ok for a revoked certificate: its verdict "
                 "disagrees with its own signature and state, so it is no answer.", lying_ok,
                 _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("service-without-checked-at", "An answer missing checked_at is no answer.", no_time,
                 _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("service-other-shape", "A 200 of another shape (an error object) is no answer.",
                 {"code": "busy", "message": "稍后再试"}, _answer(S.VALID, T.VALID, SIGNED, offline=True)),
            case("service-list", "A 200 whose body is a list is no answer.", [valid], None),
            case("service-unknown-state", "A state this version does not know is no answer.",
                 {**valid, "status": {**valid["status"], "state": "frozen"}}, None),
        ],
    }
