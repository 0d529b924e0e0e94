"""The certificate record: what an issuing system sends is read field by field, every bad field named in
Chinese and English, written back unchanged, and described by the published JSON Schema."""

from __future__ import annotations

import copy
import io
import json
import random
from dataclasses import replace
from datetime import date
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.cli_env import Environment
from keys.errors import RecordError
from keys.identifiers import LicenceId
from keys.record import PAPER_CUTOFF, Category, Record, json_schema
from keys.samples import CITIES, sample_record
from keys.schemas import RECORD_SCHEMA, main, record_schema_text

SCHEMA = jsonschema.Draft202012Validator(json.loads(RECORD_SCHEMA.read_text("utf-8")),
                                                 format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def raw_record(seed: int, paper: bool = False) -> dict[str, Any]:
    rng = random.Random(seed)
    return sample_record(rng, 100 + seed, city=CITIES[seed % 3], category=list(Category)[seed % 4],
                         issued_on=date(2023, 5, 1) if paper else None, paper=paper)


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(RecordError) as refused:
        Record.from_json(data)
    return refused.value.problems


@given(st.integers(0, 10_000), st.booleans())
@settings(max_examples=60, deadline=None)
def test_a_record_reads_and_writes_back_unchanged(seed, paper):
    raw = raw_record(seed, paper)
    record = Record.from_json(raw)
    assert record.to_json() == raw
    assert Record.from_stored(json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True)) == record
    SCHEMA.validate(raw)


def test_every_bad_field_is_named_chinese_first():
    raw = raw_record(1)
    raw["registration_no"] = "辽A SY 1"
    raw["version"] = True
    raw["issuer"]["code"] = "910100"
    raw["equipment"].update(category="crane", model="x" * 61, record_no=None, factory_serial="a\x01")
    raw["user"] = ["not", "an", "object"]
    raw["project"]["name"] = ""
    raw["owner"]["credit_code"] = "91210100MA0TEST00X"
    raw["supervisor"]["phone"] = "call me"
    raw["issued_on"] = "2024-02-30"
    found = problems(raw)
    assert found == {
        "registration_no": "不得含空格或控制字符 / must not contain spaces or control characters",
        "version": "须为整数 / must be a whole number",
        "issuer.code": "须为 6 位行政区划代码 / must be a 6-digit division code",
        "issued_on": "须为日期 YYYY-MM-DD / must be a date YYYY-MM-DD",
        "equipment.category": "须为以下之一 / must be one of: 'tower_crane', 'construction_hoist', "
                              "'material_hoist' or 'gantry_crane'",
        "equipment.model": "至多 60 个字符 / must be at most 60 characters",
        "equipment.record_no": "必填 / is required",
        "equipment.factory_serial": "不得含控制字符 / must not contain control characters",
        "user": "须为 JSON 对象 / must be a JSON object",
        "project.name": "必填 / is required",
        "owner.credit_code": found["owner.credit_code"],
        "supervisor.phone": "须为 5-20 位的电话号码（数字、空格、+-()） / must be a phone number of 5-20 digits, "
                            "spaces and +-()",
    }
    assert found["owner.credit_code"].startswith("统一社会信用代码有误 / ")
    message = str(RecordError(found))
    assert message.startswith("证书记录有误 / invalid certificate record: registration_no: 不得含")
    assert problems("not an object") == {"record": "须为 JSON 对象 / must be a JSON object"}
    assert problems({}) == {**{k: "必填 / is required" for k in
                               ("registration_no", "issuer", "issued_on", "equipment", "user", "project")},
                            "licence_id": "电子证书须填写电子证照标识 / is required for an electronic certificate"}


def test_optional_fields_may_be_left_out_empty_or_null():
    raw = raw_record(2)
    raw["equipment"].update(manufacturer=None, manufactured_on="")
    raw["project"]["address"] = None
    raw["supervisor"] = {"name": "辽宁中衡工程监理有限公司", "engineer": None, "phone": ""}
    raw["owner"]["credit_code"] = ""
    del raw["inspection"], raw["installer"], raw["version"]
    record = Record.from_json(raw)
    assert (record.version, record.inspection, record.installer) == (1, None, None)
    assert (record.equipment.manufacturer, record.equipment.manufactured_on, record.project.address) == ("", None, "")
    assert (record.supervisor.engineer, record.supervisor.phone, record.owner.credit_code) == ("", "", None)
    SCHEMA.validate(raw)


def test_the_licence_id_belongs_to_the_record():
    raw = raw_record(3)
    assert problems({**raw, "licence_id": None}) == {
        "licence_id": "电子证书须填写电子证照标识 / is required for an electronic certificate"}
    other_version = str(replace(LicenceId.parse(raw["licence_id"]), version=2))
    assert problems({**raw, "licence_id": other_version})["licence_id"].endswith(
        "its version 002 differs from the record's 1")
    other_issuer = raw_record(4)["licence_id"]  # another city's authority
    assert problems({**raw, "licence_id": other_issuer})["licence_id"].endswith(
        "its issuer part differs from issuer.credit_code")
    assert "fails its check character" in problems({**raw, "licence_id": raw["licence_id"][:-1] + "?"})["licence_id"]
    paper = raw_record(5, paper=True)
    assert Record.from_json(paper).licence_id is None


def test_no_paper_certificate_after_the_cutoff():
    raw = {**raw_record(6, paper=True), "issued_on": PAPER_CUTOFF.isoformat()}
    assert problems(raw) == {"issued_on": f"{PAPER_CUTOFF} 及以后签发的均为电子证书，没有纸质证书 / "
                                          f"no paper certificate was issued on or after {PAPER_CUTOFF}"}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=6)
odd_values = st.sampled_from([None, "", 0, 1, True, 1.5, [], {}, "x" * 201, "a\x01b", "has space", "2024-13-01",
                              "2024-01-01", "20240101", "tower_crane", "210100", 1000, "13912345678"]) | json_values


def _sections(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [data] + [v for v in data.values() if isinstance(v, dict)]


@given(st.integers(0, 10_000), st.booleans(), st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), odd_values,
                                                                 st.booleans()), min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_any_damage_is_a_record_error_and_the_schema_never_refuses_an_accepted_record(seed, paper, damage):
    raw = copy.deepcopy(raw_record(seed, paper))
    for section_pick, field_pick, value, remove in damage:
        sections = _sections(raw)
        section = sections[section_pick % len(sections)]
        field = sorted(section)[field_pick % len(section)] if section else "x"
        if remove:
            section.pop(field, None)
        else:
            section[field] = value
    try:
        record = Record.from_json(raw)
    except RecordError as exc:
        assert exc.problems and all(" / " in why for why in exc.problems.values())
        return
    SCHEMA.validate(raw)
    assert Record.from_json(record.to_json()) == record


def test_the_published_schema_is_the_one_the_types_make(tmp_path):
    """docs/record.schema.json is generated: `python -m keys.schemas` writes it, `--check` compares."""
    committed = RECORD_SCHEMA.read_text("utf-8")
    assert committed == record_schema_text(), "run: python -m keys.schemas"
    assert json.loads(committed) == json_schema()
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False, vars={})
    out = tmp_path / "record.schema.json"
    assert main(["--check"], env, out) == 1 and "differs from the types" in env.stdout.getvalue()
    assert main([], env, out) == 0 and out.read_text("utf-8") == committed
    assert main(["--check"], env, out) == 0
    assert main(["--what"], env, out) == 2 and "usage" in env.stderr.getvalue()


@pytest.mark.parametrize(("path", "text"), [
    (("registration_no",), "辽A-SY-2024-0045\u200d6"),          # zero-width joiner: looks like the real number
    (("project", "name"), "万科翡翠公园\u202e期二"),               # right-to-left override
    (("equipment", "factory_serial"), "2017-\u202e5989"),       # displays as 2017-9895
    (("user", "name"), "\ufeff中建三局集团有限公司"),               # byte order mark, category Cf
    (("supervisor", "engineer"), "张\u2066三"),                  # bidi isolate
])
def test_invisible_format_characters_are_refused_naming_the_field(path, text):
    raw = raw_record(31)
    raw.setdefault("supervisor", {})
    node = raw
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = text
    with pytest.raises(RecordError) as refused:
        Record.from_json(raw)
    field = ".".join(path)
    assert set(refused.value.problems) == {field}
    why = refused.value.problems[field]
    assert why.startswith("不得含不可见的格式字符") and "U+" in why and "invisible format characters" in why


def test_a_stored_record_with_format_characters_still_reads():
    """Data stored before the rule must stay readable: pages then show the characters visibly."""
    raw = raw_record(32)
    raw["project"]["name"] = "万科\u202e期二"
    assert Record.from_stored(json.dumps(raw, ensure_ascii=False)).project.name == "万科\u202e期二"
