"""The one error the document verifier raises: a file it cannot or will not read."""

from ..errors import CraneError


class DocumentError(CraneError):
    """A file is not a readable OFD package, or is refused as hostile (size, paths, XML, nesting).

    The message is Chinese first, then English, and names no more than the reader needs: malformed and
    hostile input look alike to the person uploading it.
    """

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(f"{zh} {en}")
