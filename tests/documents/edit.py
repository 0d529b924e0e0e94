"""Changing one member of an OFD package, as a tamperer would: everything else keeps its bytes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from keys.documents.sealing import write_package


def members(ofd: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(ofd)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def edited(ofd: bytes, name: str, change: Callable[[bytes], bytes | None]) -> bytes:
    """`ofd` with member `name` changed (None removes it)."""
    files = members(ofd)
    new = change(files[name])
    if new is None:
        del files[name]
    else:
        files[name] = new
    return write_package(files)


def flip(offset: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        at = offset % len(data)
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
    return change
