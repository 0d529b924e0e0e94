"""Answer.from_json, the scanner's reader of the service's answers: every answer reads back to itself,
and anything else is an AnswerError naming the field, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.answer import Answer, AnswerError, IssuerRef, Signature, SignatureResult, Source, State, Status

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])).map(
    lambda m: m.replace(microsecond=0))
texts = st.text(max_size=20)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=8)

answers = st.builds(
    Answer,
    signature=st.builds(Signature, st.sampled_from(SignatureResult), st.none() | texts, st.none() | texts,
                        st.none() | st.builds(IssuerRef, texts, texts)),
    status=st.builds(Status, st.sampled_from(State), texts, st.none() | moments, st.sampled_from(Source),
                     st.none() | st.fixed_dictionaries({"registration_no": texts, "version": st.integers(1, 999)}),
                     st.none() | moments),
    checked_at=moments,
    certificate=st.none() | st.dictionaries(texts, json_values, max_size=4),
    mismatches=st.lists(st.sampled_from(["record_no", "factory_serial", "project"]), unique=True).map(tuple),
)


@given(answers)
def test_every_answer_reads_back_to_itself(answer: Answer) -> None:
    body = answer.to_json()
    again = Answer.from_json(body)
    assert again.to_json() == body
    assert again.verdict == answer.verdict


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    return out


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    return {**value, path[0]: _replaced(value[path[0]], path[1:], new)}


@settings(max_examples=150)
@given(answers, st.data())
def test_a_damaged_answer_is_an_answer_error_or_still_an_answer(answer: Answer, data: st.DataObject) -> None:
    body = answer.to_json()
    path = data.draw(st.sampled_from(_paths(body)))
    damaged = _replaced(body, path, data.draw(json_values))
    try:
        Answer.from_json(damaged)
    except AnswerError as exc:
        assert str(exc)


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.pop("status"), "status is not an object"),
    (lambda a: a["signature"].update(result="forged"), "signature.result 'forged' is not one of"),
    (lambda a: a["status"].update(since="yesterday"), "status.since 'yesterday' is not an ISO 8601 time"),
    (lambda a: a["status"].update(since="2026-11-24T10:00:00"), "has no UTC offset"),
    (lambda a: a["verdict"].update(ok=True), "verdict.ok is True, but signature valid and state revoked give False"),
    (lambda a: a.update(mismatches="record_no"), "mismatches is not a list"),
])
def test_what_does_not_parse_is_named(change, message: str) -> None:
    body = Answer(Signature(SignatureResult.VALID), Status(State.REVOKED), datetime(2026, 11, 24, tzinfo=UTC)).to_json()
    change(body)
    with pytest.raises(AnswerError, match=message):
        Answer.from_json(body)


def test_answers_are_read_without_pydantic_and_still_describe_their_schema() -> None:
    """keys/answer.py's JSON types carry their OpenAPI words by pydantic's annotation protocol, so reading
    an answer needs no pydantic, and verify_api/openapi.py still gets the enums and time formats."""
    import ast
    from pathlib import Path

    from pydantic import TypeAdapter

    import keys.answer

    tree = ast.parse(Path(keys.answer.__file__).read_text("utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "pydantic" not in imported and "pydantic_core" not in imported
    schema = TypeAdapter(keys.answer.AnswerJSON).json_schema(mode="serialization")
    status = schema["$defs"]["StatusJSON"]["properties"]
    assert status["state"]["enum"] == [s.value for s in State]
    assert (status["since"]["type"], status["since"]["format"]) == (["string", "null"], "date-time")
    assert schema["properties"]["checked_at"]["format"] == "date-time"
