"""A strict reader for the small CBOR subset our payload uses.

cbor2 writes (canonical form); this reads, because a verifier must refuse what cbor2 forgives:
duplicate map keys, indefinite lengths, non-shortest lengths, floats, unknown tags, trailing bytes,
and nesting deeper than a fixed limit. Every refusal is a `CborError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8
COSE_SIGN1_TAG = 18


class CborError(ValueError):
    pass


@dataclass(frozen=True)
class Tagged:
    tag: int
    value: Any


def loads(data: bytes, max_depth: int = MAX_DEPTH, allowed_tags: frozenset[int] = frozenset()) -> Any:
    reader = _Reader(bytes(data), max_depth, allowed_tags)
    value = reader.item(0)
    if reader.pos != len(reader.data):
        raise CborError(f"{len(reader.data) - reader.pos} bytes after the CBOR item")
    return value


class _Reader:
    def __init__(self, data: bytes, max_depth: int, allowed_tags: frozenset[int]):
        self.data, self.pos, self.max_depth, self.allowed_tags = data, 0, max_depth, allowed_tags

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise CborError("CBOR item runs past the end of the data")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def head(self) -> tuple[int, int]:
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info
        if info > 27:
            raise CborError("indefinite lengths and reserved values are not accepted")
        if major == 7:
            raise CborError("floats and other simple values are not accepted")
        size = 1 << (info - 24)
        value = int.from_bytes(self.take(size), "big")
        if value < (24 if size == 1 else 1 << (4 * size)):
            raise CborError("a CBOR length or integer is not in its shortest form")
        return major, value

    def item(self, depth: int) -> Any:
        if depth > self.max_depth:
            raise CborError(f"CBOR nested deeper than {self.max_depth}")
        major, arg = self.head()
        if major == 0:
            return arg
        if major == 1:
            return -1 - arg
        if major == 2:
            return self.take(arg)
        if major == 3:
            try:
                return self.take(arg).decode("utf-8")
            except UnicodeDecodeError:
                raise CborError("text string is not valid UTF-8") from None
        if major == 4:
            self.plausible(arg)
            return [self.item(depth + 1) for _ in range(arg)]
        if major == 5:
            self.plausible(2 * arg)
            out: dict[Any, Any] = {}
            for _ in range(arg):
                key = self.item(depth + 1)
                if isinstance(key, bool) or not isinstance(key, int | str):
                    raise CborError("map keys must be integers or text")
                if key in out:
                    raise CborError(f"duplicate map key {key!r}")
                out[key] = self.item(depth + 1)
            return out
        if major == 6:
            if arg not in self.allowed_tags:
                raise CborError(f"CBOR tag {arg} is not accepted here")
            return Tagged(arg, self.item(depth + 1))
        return self.simple(arg)

    def plausible(self, count: int) -> None:
        # Every element needs at least one byte: refuse a count the data cannot hold before allocating.
        if count > len(self.data) - self.pos:
            raise CborError("CBOR container is longer than the data")

    @staticmethod
    def simple(arg: int) -> Any:
        if arg == 20:
            return False
        if arg == 21:
            return True
        if arg == 22:
            return None
        raise CborError("floats and other simple values are not accepted")
