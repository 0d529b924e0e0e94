"""Schemathesis against /openapi.json of the running service (`crane-verify serve --demo`, gunicorn).

`schemathesis run` with every check, in every generation mode (valid and invalid data), through its
examples, coverage (boundary values) and fuzzing phases, with an issuer token: no 5xx, each response's
status, headers, content type and body as the document says, schema-invalid requests refused, auth
enforced, undeclared methods answered 405 with Allow.

One allowance, per operation and written down: whether a registration, a correction or a dismantling
notice is accepted depends on things no JSON schema states (the payload's signature, identifier check
characters, a completion time not in the future, the registry's state), so for those a schema-valid
request may also be refused with 400 or 422. The inspection endpoints want an inspector's or a supervisor's
token and an enrolment code that was issued, so with the issuer token a schema-valid request to them is
refused with 403 or 404. An uploaded file is read by what its bytes are, which no schema states, so a
schema-valid upload to verifyFile may be refused with 415 or 422. Every other check holds for them as for
the rest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reliability.live import LiveService
from verify_api.store import Store

SEED = int(os.environ.get("CRANE_SCHEMATHESIS_SEED", "20261124"))
CONFIG = """
[checks]
enabled = true

[[operations]]
include-operation-id = ["register", "correction", "dismantling"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-operation-id = ["uploadInspections", "readInspections", "enrol"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "403", "404", "429"]

[[operations]]
include-operation-id = ["verifyFile"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "415", "422", "429"]
"""


@pytest.mark.slow
def test_every_operation_conforms_to_the_published_schema(live: LiveService, tmp_path: Path):
    store = Store(live.env["REDIS_URL"], timeout=5)
    token = store.create_token("210100", datetime.now(UTC))[1]
    store.client.close()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, "utf-8")
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config), "--no-color",
               "run", live.url + "/openapi.json", "--header", f"Authorization: Bearer {token}",
               "--checks", "all", "--mode", "all", "--max-examples", "60", "--seed", str(SEED),
               "--phases", "examples,coverage,fuzzing", "--request-timeout", "10"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    assert "Tested: 18" in report or "Tested: 19" in report, report[-3000:]
    server_errors = [line for line in live.output().splitlines() if '"status": 5' in line]
    assert not server_errors, server_errors[:5]
