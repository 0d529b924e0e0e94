"""/openapi.json's schemas are generated from the types that make the JSON: the certificate record is
docs/record.schema.json itself, and every answer the demo data gives fits the Answer schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from keys.record import json_schema
from verify_api.openapi import _generated, spec

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "demo_answers.json"


def _validator(document: dict, name: str) -> jsonschema.Draft202012Validator:
    """A validator for one component, its references resolved inside the OpenAPI document."""
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                            "components": document["components"]})


def test_the_record_schema_is_the_published_one():
    document = spec("https://verify.example.cn")
    published = json.loads((ROOT / "docs" / "record.schema.json").read_text("utf-8"))
    assert published == json_schema()
    text = json.dumps(published).replace('"#/$defs/', '"#/components/schemas/')
    as_components = json.loads(text)
    del as_components["$schema"]
    parts = as_components.pop("$defs")
    schemas = document["components"]["schemas"]
    assert schemas["Record"] == as_components
    assert {name: schemas[name] for name in parts} == parts
    register = document["paths"]["/api/v1/issuer/certificates"]["post"]["requestBody"]
    assert register["content"]["application/json"]["schema"]["properties"]["record"] == {
        "$ref": "#/components/schemas/Record"}
    with pytest.raises(ValueError, match="Party"):  # two sets of types naming a part alike would clash
        _generated({"Record": {}, "Party": {}}, {"Party": {"type": "object"}})


def test_every_demo_answer_fits_the_answer_schema():
    answer = _validator(spec("https://verify.example.cn"), "Answer")
    golden = json.loads(GOLDEN.read_text("utf-8"))
    bodies = [got["verify"] for got in golden.values() if "verify" in got]
    bodies += [got["lookup"][1] for got in golden.values() if "lookup" in got and got["lookup"][0] == 200]
    assert len(bodies) > 60
    kinds = set()
    for body in bodies:
        answer.validate(body)
        kinds.add((body["signature"]["result"], body["status"]["state"]))
    assert len(kinds) == 7  # valid, paper, superseded, ended, revoked, suspended, not ours
    broken = {**bodies[0], "status": {**bodies[0]["status"], "state": "fine"}}
    assert not answer.is_valid(broken)
