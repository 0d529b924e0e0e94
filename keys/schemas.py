"""`python -m keys.schemas [--check]`: write docs/record.schema.json from the record's types, or check it.

The record's JSON Schema is generated (keys.record.json_schema), never edited by hand; a test fails when
the committed file differs from what the types make.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_env import Environment, ExitStatus
from .record import json_schema

RECORD_SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "record.schema.json"


def record_schema_text() -> str:
    """docs/record.schema.json as it is committed."""
    return json.dumps(json_schema(), ensure_ascii=False, indent=1) + "\n"


def main(args: list[str], env: Environment | None = None, path: Path = RECORD_SCHEMA) -> ExitStatus:
    env = env or Environment()
    if args not in ([], ["--check"]):
        env.err("usage: python -m keys.schemas [--check]")
        return ExitStatus.ERROR
    wanted = record_schema_text()
    if args:
        same = path.is_file() and path.read_text("utf-8") == wanted
        env.out(f"{path}: {'up to date' if same else '与类型生成的不一致 / differs from the types; run python -m keys.schemas'}")
        return ExitStatus.OK if same else ExitStatus.NOT_OK
    path.write_text(wanted, "utf-8")
    env.out(f"written {path}")
    return ExitStatus.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
