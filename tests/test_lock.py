"""A fresh install takes every package from the hashed lock: the lock must cover what pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _pinned(path: Path) -> dict[str, str]:
    """name -> the whole entry (pin, markers and hashes), from a pip requirements file."""
    entries = re.split(r"\n(?=[a-z0-9])", path.read_text("utf-8"), flags=re.I)
    return {_name(e): e for e in entries if e and not e.startswith("#")}


def test_every_dependency_is_pinned_with_hashes_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    locked = _pinned(ROOT / "requirements.lock")
    for requirement in wanted:
        entry = locked.get(_name(requirement))
        assert entry, f"{requirement} is not in requirements.lock: run `make lock`"
        assert "==" in entry and "--hash=sha256:" in entry, entry


def test_packages_installed_without_dependencies_are_pinned_with_hashes():
    for name, entry in _pinned(ROOT / "requirements-nodeps.txt").items():
        assert re.search(r"==\S+ --hash=sha256:[0-9a-f]{64}", entry), f"{name}: pin and hash it"
