"""docs/security.md names the tests that show each defence: every name must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")


def test_every_test_named_in_the_security_document_exists():
    text = (ROOT / "docs" / "security.md").read_text("utf-8")
    references = set(REFERENCE.findall(text))
    assert len(references) >= 40, references
    missing = []
    for path, name in sorted(references):
        source = ROOT / path
        if not source.is_file():
            missing.append(f"{path} (no such file)")
            continue
        tree = ast.parse(source.read_text("utf-8"))
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        if name not in names:
            missing.append(f"{path}::{name}")
    assert not missing, missing


def test_every_threat_of_the_model_has_a_row():
    text = (ROOT / "docs" / "security.md").read_text("utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| **")]
    threats = ["Forged QR", "moved to another crane", "replayed after dismantling", "Stolen issuer key",
               "Backdating", "Stolen issuer API token", "Scraping", "Denial of service", "look-alike"]
    for threat in threats:
        row = next((r for r in rows if threat in r), None)
        assert row is not None, threat
        assert REFERENCE.search(row), f"{threat}: no test named"
