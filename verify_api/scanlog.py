"""The scan log: raw QR texts and client addresses, kept only for the retention period, then dropped.

They are personal data of a kind (who checked which crane, from where), so they stay out of the
application log and out of Redis, in one JSON-lines file per day under the data directory. A whole
day's file is deleted once it is older than the retention; appending costs no round trip and no fsync
on the hot path of every scan.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import weakref
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

_LOGS: weakref.WeakSet[ScanLog] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    """A worker that stops (gunicorn's SIGTERM, then sys.exit) keeps its last buffered lines."""
    for log in list(_LOGS):
        with contextlib.suppress(OSError, ValueError):
            log.flush()


class ScanLog:
    def __init__(self, directory: Path, retention_days: int):
        self.directory, self.retention_days = directory, retention_days
        self._lock = threading.Lock()
        self._day: date | None = None
        self._file: TextIO | None = None
        _LOGS.add(self)

    def append(self, qr_text: str, client: str, now: datetime) -> None:
        day = now.astimezone(UTC).date()
        line = json.dumps({"at": now.isoformat(timespec="milliseconds"), "client": client, "qr": qr_text[:2048]},
                          ensure_ascii=False) + "\n"
        with self._lock:
            if day != self._day or self._file is None:
                self._file = self._open(day)
                self.prune(now)
            self._file.write(line)  # buffered: a crash may lose the last few lines of a log, not an answer

    def flush(self) -> None:
        with self._lock:
            if self._file:
                self._file.flush()

    def _open(self, day: date) -> TextIO:
        if self._file:
            self._file.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{day.isoformat()}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # a QR text is whatever a client sent: lone surrogates are written as escapes, not refused
        self._day = day
        return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")

    def prune(self, now: datetime) -> list[Path]:
        """Delete the files of days older than the retention period; returns what was deleted."""
        oldest = now.astimezone(UTC).date() - timedelta(days=self.retention_days)
        dropped = []
        for path in self.directory.glob("*.jsonl"):
            try:
                day = date.fromisoformat(path.stem)
            except ValueError:
                continue
            if day < oldest:
                path.unlink(missing_ok=True)
                dropped.append(path)
        return dropped

    def entries(self) -> list[dict]:
        self.flush()
        out = []
        for path in sorted(self.directory.glob("*.jsonl")):
            out += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        return out
