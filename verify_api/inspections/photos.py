"""Inspection photos: files under the data directory behind a small interface, never in Redis.

A photo is written (and synced) before its record is stored, under a name of its own, so a record that
was acknowledged always has its photo, and a retried or forged id can never overwrite another's photo.
Photos are filed by the day they were received, which is what the retention purge goes by.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

MAX_PHOTO = 2 * 1024 * 1024
_REF = re.compile(r"(\d{4})/(\d\d)/(\d\d)/[0-9a-f-]{36}-[0-9a-f]{16}\.jpg", re.ASCII)


class PhotoError(ValueError):
    """A photo that is not a JPEG of at most 2 MB."""


def check_jpeg(data: bytes) -> bytes:
    if len(data) > MAX_PHOTO:
        raise PhotoError(f"照片超过 2 MB / photo larger than 2 MB ({len(data)} bytes)")
    if not data.startswith(b"\xff\xd8\xff") or b"\xff\xd9" not in data[-64:]:
        raise PhotoError("照片须为 JPEG / photo must be a JPEG")
    return data


class Photos(Protocol):
    def put(self, received_at: datetime, inspection_id: str, data: bytes) -> str: ...
    def get(self, ref: str) -> bytes | None: ...
    def delete(self, ref: str) -> bool: ...
    def purge(self, before: datetime) -> int: ...


class FilePhotos:
    """Photos as files: `<root>/<yyyy>/<mm>/<dd>/<id>-<random>.jpg`; a reference is that relative path."""

    def __init__(self, root: Path):
        self.root = root

    def put(self, received_at: datetime, inspection_id: str, data: bytes) -> str:
        ref = f"{received_at:%Y/%m/%d}/{inspection_id}-{secrets.token_hex(8)}.jpg"
        path = self.root / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return ref

    def _path(self, ref: str) -> Path | None:
        return self.root / ref if _REF.fullmatch(ref) else None

    def get(self, ref: str) -> bytes | None:
        path = self._path(ref)
        try:
            return path.read_bytes() if path else None
        except OSError:
            return None

    def delete(self, ref: str) -> bool:
        """True when there was such a photo to delete."""
        path = self._path(ref)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def purge(self, before: datetime) -> int:
        """Remove the photos received on days before `before`'s day; returns how many."""
        removed = 0
        cutoff = before.date()
        for day_dir in sorted(self.root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
            try:
                day = date(*(int(part) for part in day_dir.relative_to(self.root).parts))
            except ValueError:
                continue
            if day < cutoff:
                removed += sum(1 for _ in day_dir.glob("*.jpg"))
                shutil.rmtree(day_dir, ignore_errors=True)
        return removed
