"""The service's trust list, checked against the pinned root and re-read when its file changes."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from keys.algorithms import PublicKey
from keys.errors import TrustListError
from keys.trustlist import SignedTrustList, TrustList


class TrustSource:
    """Holds the verified list; a changed file is checked again, and a bad one keeps the last good list."""

    def __init__(self, path: Path, root_pub: Path, reload_s: float = 2.0):
        self.path, self.root_pub, self.reload_s = path, root_pub, reload_s
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._list: TrustList | None = None
        self._document: bytes = b""
        self._etag = ""
        self._pinned: PublicKey | None = None
        self.error: str | None = None

    def current(self) -> TrustList:
        now = time.monotonic()
        if self._list is None or now - self._checked > self.reload_s:
            with self._lock:
                self._checked = now
                self._reload()
        if self._list is None:
            raise TrustListError(self.error or "no trust list")
        return self._list

    def document(self) -> tuple[bytes, str]:
        """The signed document as published at /api/v1/trust-list, and its ETag (made once per reload)."""
        self.current()
        return self._document, self._etag

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
        except OSError as exc:
            self.error = f"trust list {self.path} unreadable: {exc.strerror}"
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            if self._pinned is None:
                self._pinned = PublicKey.from_pem(self.root_pub.read_bytes())
            data = self.path.read_bytes()
            verified = SignedTrustList.loads(data).verify(self._pinned)
        except (OSError, TrustListError) as exc:
            self.error = f"trust list refused: {exc}"
            return
        if self._list is not None and verified.serial < self._list.serial:
            self.error = f"trust list serial {verified.serial} is older than {self._list.serial}; kept the newer"
            return
        self._list, self._document, self._stamp, self.error = verified, data, stamp, None
        self._etag = hashlib.sha256(data).hexdigest()[:32]
        self._pinned = verified.root  # a cross-signed rotation moves the pin on
