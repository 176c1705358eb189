"""Hashing while bytes stream past, so a bundle is read once and never held in memory."""

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from django.core.files.uploadhandler import TemporaryFileUploadHandler

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


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file upload handler that also hashes each chunk as it arrives."""

    chunk_size = CHUNK

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.digests = Digests()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.digests.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        uploaded.digests = self.digests
        return uploaded
