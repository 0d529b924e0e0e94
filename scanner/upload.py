"""crane-scan's checks sent to the service as inspection records (`--upload URL --token T`).

Each check becomes a record with an id made once, when the check is made, and is queued in the scanner's
local data (`<data dir>/scanner/uploads.sqlite`, beside the offline data) before anything is sent. A run
sends everything queued, its own checks and those an earlier run could not send; the service stores each
id once, so a batch whose answer was lost is simply sent again. A record the service refuses is moved
aside with the reason and not sent again.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .online import USER_AGENT, base_url
from .verdicts import Finding

BATCH = 500
MAX_ANSWER = 4 * 1024 * 1024


def queue_path(data_dir: Path) -> Path:
    return data_dir / "scanner" / "uploads.sqlite"


def inspection_record(finding: Finding, checked_at: datetime) -> dict[str, Any]:
    """What the device showed for one code, as the service's inspection record (docs/api.md)."""
    checked = finding.checked
    expected, mismatched = checked.expected, set(finding.answer.mismatches)

    def plate(name: str) -> str:
        if not getattr(expected, name):
            return "unchecked"
        return "mismatch" if name in mismatched else "match"

    return {"id": str(uuid.uuid4()), "qr": finding.text,
            "checked_at": checked_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "shown": {"state": finding.answer.status.state.value, "signature": finding.answer.signature.result.value,
                      "mode": checked.mode, "data_age_s": checked.data_age_s},
            "plate": {"record_no": plate("record_no"), "factory_serial": plate("factory_serial")},
            "location": None, "note": "", "photo": None}


class UploadQueue:
    """Records waiting to be sent, and those the service refused (kept for a person to look at)."""

    def __init__(self, path: Path):
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS pending (n INTEGER PRIMARY KEY, id TEXT UNIQUE, body TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS refused (id TEXT PRIMARY KEY, body TEXT, reason TEXT, at TEXT)")
            yield db

    def add(self, record: dict[str, Any]) -> None:
        with self.connect() as db:
            db.execute("INSERT OR IGNORE INTO pending (id, body) VALUES (?, ?)",
                       (record["id"], json.dumps(record, ensure_ascii=False)))

    def pending(self, limit: int = BATCH) -> list[dict[str, Any]]:
        with self.connect() as db:
            return [json.loads(b) for (b,) in db.execute("SELECT body FROM pending ORDER BY n LIMIT ?", (limit,))]

    def count(self) -> int:
        with self.connect() as db:
            return int(db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def settle(self, done: list[str], refused: list[tuple[str, str]], now: datetime) -> None:
        with self.connect() as db:
            for rid, reason in refused:
                db.execute("INSERT OR REPLACE INTO refused SELECT id, body, ?, ? FROM pending WHERE id = ?",
                           (reason, now.isoformat(timespec="seconds"), rid))
            db.executemany("DELETE FROM pending WHERE id = ?", [(rid,) for rid in done + [r for r, _ in refused]])


class UploadFailed(Exception):
    """The service could not be asked or did not answer with results; the records stay queued."""


@dataclass
class Sent:
    stored: int = 0
    duplicate: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    queued: int = 0
    error: str | None = None

    def lines(self) -> list[str]:
        out = [f"已上传 {self.stored} 条检查记录（{self.duplicate} 条此前已上传） / uploaded {self.stored} inspection "
               f"records ({self.duplicate} already there)"]
        out += [f"记录 {rid} 被拒收 / refused: {reason}" for rid, reason in self.refused]
        if self.error:
            out.append(f"上传失败（{self.error}），{self.queued} 条记录留待下次运行上传 / upload failed ({self.error}); "
                       f"{self.queued} records queued for the next run")
        return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect and send the Authorization header to wherever it points: any 3xx is
    answered as the HTTPError it is, and the upload fails."""

    def redirect_request(self, *args: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Uploader:
    def __init__(self, url: str, token: str, queue: UploadQueue, timeout: float = 15.0):
        self.url = base_url(url) + "/api/v1/inspections"
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme != "https" and not _loopback(parsed.hostname or ""):
            # The token and the inspectors' records would cross the network in the clear.
            raise ValueError(f"上传须用 https:// 地址（本机地址除外） / --upload needs an https:// URL unless the "
                             f"service is on this machine: {url!r}")
        self.token = token
        self.queue = queue
        self.timeout = timeout

    def add(self, finding: Finding, checked_at: datetime) -> None:
        """Queue a check at once: its id is made here, so however often it is sent it is one record."""
        self.queue.add(inspection_record(finding, checked_at))

    def send(self, now: datetime) -> Sent:
        """Send everything queued, a batch at a time, until the queue is empty or the service fails."""
        sent = Sent()
        while batch := self.queue.pending(BATCH):
            try:
                results = self._post(batch)
            except UploadFailed as exc:
                sent.error = str(exc)
                break
            done = [r["id"] for r in results if r.get("outcome") in ("stored", "duplicate")]
            refused = [(r["id"], r.get("reason", "")) for r in results if r.get("outcome") == "refused"]
            sent.stored += sum(r.get("outcome") == "stored" for r in results)
            sent.duplicate += sum(r.get("outcome") == "duplicate" for r in results)
            sent.refused += refused
            self.queue.settle(done, refused, now)
            if not done and not refused:
                sent.error = "the service answered no record of the batch"
                break
        sent.queued = self.queue.count()
        return sent

    def _post(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = json.dumps({"inspections": batch}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, method="POST", headers={  # noqa: S310 - base_url checks
            "User-Agent": USER_AGENT, "Content-Type": "application/json", "Accept": "application/json",
            "Authorization": f"Bearer {self.token}"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_ANSWER)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise UploadFailed(f"服务要求转到别处，未跟随，令牌只发往给定的地址 / the service redirected (HTTP "
                                   f"{exc.code}), not followed: the token goes only to the URL given") from None
            body = exc.read(MAX_ANSWER)
            if exc.code != 422:  # 422: every record refused, each with its reason
                raise UploadFailed(f"HTTP {exc.code}: {_message(body)}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise UploadFailed(str(getattr(exc, "reason", exc))) from None
        try:
            results = json.loads(body)["results"]
        except (ValueError, KeyError, TypeError):
            raise UploadFailed("the answer is not an upload result") from None
        if not isinstance(results, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str)
                                                    for r in results):
            raise UploadFailed("the answer is not an upload result")
        return results


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""
