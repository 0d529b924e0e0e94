"""The pinned root public key, kept in the user's configuration directory, outside the offline data.

The first sync writes it (from `--root-pub` or `$CRANE_ROOT_PUB`); every later sync and scan uses it with
no flag. Whoever can replace the data file does not thereby choose the root it is checked against. A root rotation accepted by cross-signature appends the new root, so the file also holds the
history: naming an earlier root again is not a conflict, naming an unrelated one is. The file also keeps
the highest trust-list serial ever accepted, so deleting the data file does not let an older list back in.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from keys.algorithms import PublicKey
from keys.errors import CraneError

PINS = "pins"


class PinError(CraneError):
    """No root to check the trust list against, or a root that conflicts with the pinned one."""


@dataclass(frozen=True)
class Pin:
    root: PublicKey
    pinned_at: str
    how: str


class PinStore:
    """One pin file per offline data directory (named by a digest of its absolute path), so data kept for two
    services, or by two test runs, never share a pin, and none of them lives beside the data it vouches for."""

    def __init__(self, config_dir: Path, data_dir: Path):
        where = str(Path(data_dir).expanduser().resolve())
        self.path = Path(config_dir) / PINS / f"{hashlib.sha256(where.encode('utf-8')).hexdigest()[:16]}.json"
        self.data_dir = where

    def _read(self) -> tuple[list[Pin], int]:
        try:
            document = json.loads(self.path.read_text("utf-8"))
            pins = [Pin(PublicKey.from_pem(p["pem"].encode("ascii")), p["pinned_at"], p["how"]) for p in document["pins"]]
            return pins, int(document.get("trust_serial", 0))
        except FileNotFoundError:
            return [], 0
        except (OSError, ValueError, KeyError, TypeError, AttributeError, CraneError) as exc:
            raise PinError(f"根公钥固定文件无法读取 / the root pin file {self.path} cannot be read: {exc}") from None

    def history(self) -> list[Pin]:
        return self._read()[0]

    def trust_serial(self) -> int:
        """The highest trust-list serial accepted with this pin (0 before the first)."""
        return self._read()[1]

    def record_serial(self, serial: int) -> None:
        pins, highest = self._read()
        if serial > highest:
            self._write(pins, serial)

    def current(self) -> PublicKey | None:
        pins = self.history()
        return pins[-1].root if pins else None

    def add(self, root: PublicKey, at: datetime, how: str) -> None:
        pins = self.history()
        if pins and pins[-1].root == root:
            return
        pins.append(Pin(root, at.isoformat(timespec="seconds"), how))
        self._write(pins, self.trust_serial())

    def _write(self, pins: list[Pin], trust_serial: int) -> None:
        document = {"data_dir": self.data_dir, "trust_serial": trust_serial, "pins": [{"kid": p.root.kid, "pem": p.root.pem().decode("ascii"), "pinned_at": p.pinned_at,
                              "how": p.how} for p in pins]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole and renamed: a pin file is never half-written.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pins-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
        os.replace(tmp, self.path)

    def choose(self, given: PublicKey | None) -> tuple[PublicKey, bool]:
        """The root to check against and whether it is new (to be pinned at the first sync)."""
        pins = self.history()
        if not pins:
            if given is None:
                raise PinError("未固定根公钥 / no root public key is pinned: the first sync needs --root-pub "
                               f"ROOT.pub.pem or CRANE_ROOT_PUB (the pin is kept in {self.path})")
            return given, True
        if given is not None and all(p.root != given for p in pins):
            raise PinError(f"已固定的根公钥是 {pins[-1].root.kid}，--root-pub 给出的是另一个根 {given.kid} / the scanner is "
                           f"pinned to root {pins[-1].root.kid}; --root-pub names another root {given.kid}. To trust a "
                           f"different root, use another data directory or remove {self.path}")
        return pins[-1].root, False
