"""Hashing while bytes stream past, so a bundle is read once and never held in memory."""

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1024 * 1024


class Digests:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha512 = hashlib.sha512()
        self.length = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.sha512.update(chunk)
        self.length += len(chunk)

    def as_dict(self) -> dict:
        return {
            "length": self.length,
            "sha256": self.sha256.hexdigest(),
            "sha512": self.sha512.hexdigest(),
        }

    def matches(self, *, length: int, sha256: str, sha512: str) -> bool:
        """The bytes hashed are exactly these: same length and both hashes."""
        found = self.as_dict()
        return (found["length"], found["sha256"], found["sha512"]) == (length, sha256, sha512)


def digest_stream(stream: BinaryIO, *, chunk: int = CHUNK) -> Digests:
    digests = Digests()
    for block in iter_chunks(stream, chunk):
        digests.update(block)
    return digests


def iter_chunks(stream: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    while block := stream.read(chunk):
        yield block


class HashingReader:
    """A stream's bytes for whoever reads them (a storage backend), hashed as they pass: it
    cannot seek back, so each byte is read and hashed once and the digests are those of the
    bytes handed on, whatever the source holds before or after. At most `limit` bytes."""

    def __init__(self, stream: BinaryIO, *, limit: int | None = None) -> None:
        self.digests = Digests()
        self._stream = stream
        self._left = limit

    def read(self, size: int | None = -1) -> bytes:
        if self._left is not None:
            size = self._left if size is None or size < 0 else min(size, self._left)
        block = self._stream.read(size)
        if self._left is not None:
            self._left -= len(block)
        self.digests.update(block)
        return block

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False
