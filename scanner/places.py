"""Where the scanner keeps its things, per user and not per current directory (XDG base directories).

The offline data is the user's data (`$XDG_DATA_HOME/crane-scan`, default ~/.local/share/crane-scan), so a
sync in one folder serves a scan from any other; an explicit `--data-dir`, `$CRANE_SCAN_DATA` or
`$CRANE_DATA_DIR` (the older name, shared with the service) still chooses another. The root pin is
configuration and lives apart from the data (`$XDG_CONFIG_HOME/crane-scan`, default ~/.config/crane-scan):
whoever can swap the data file does not thereby choose which root it is checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

APP = "crane-scan"


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _xdg(env: Mapping[str, str], name: str, default: str) -> Path:
    # The specification ignores relative values: they would again depend on the current directory.
    value = env.get(name, "")
    return Path(value) if value and Path(value).is_absolute() else _home(env) / default


def data_dir(env: Mapping[str, str], given: str | None = None) -> Path:
    explicit = given or env.get("CRANE_SCAN_DATA") or env.get("CRANE_DATA_DIR")
    return Path(explicit).expanduser() if explicit else _xdg(env, "XDG_DATA_HOME", ".local/share") / APP


def config_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_CONFIG_HOME", ".config") / APP
