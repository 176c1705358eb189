"""A bundle is read once, hashed as it is stored: its name and hashes are those of the bytes
storage holds, whatever the source holds before or after."""

import hashlib
import io
import os

import pytest

from signing import storage
from signing.services.bundles import BundleSpec, bundle_ingest_file

pytestmark = pytest.mark.django_db


class OverwrittenOnceRead(io.BytesIO):
    """A file another process overwrites (same length, in place) once it was read through."""

    def __init__(self, first: bytes, then: bytes) -> None:
        super().__init__(first)
        self.then = then

    def read(self, size: int | None = -1) -> bytes:
        block = super().read(size)
        if not block and self.then:
            self.getbuffer()[:] = self.then
            self.then = b""
        return block


def test_a_bundle_is_named_and_hashed_by_the_bytes_stored(repos, settings):
    first, then = os.urandom(300_000), os.urandom(300_000)
    spec = BundleSpec(path="hu/a.bin", hardware_id="hu", version="1", release_counter=1)

    bundle = bundle_ingest_file(spec=spec, stream=OverwrittenOnceRead(first, then), actor=None)

    with storage.bundle_storage().open(bundle.blob_name, "rb") as handle:
        stored = handle.read()
    assert bundle.sha256 == hashlib.sha256(stored).hexdigest()
    assert bundle.sha512 == hashlib.sha512(stored).hexdigest()
    assert bundle.length == len(stored)
    assert bundle.blob_name == storage.blob_name(bundle.sha256)
    home = settings.STORAGES["bundles"]["OPTIONS"]["location"]
    assert [name for _, _, names in os.walk(home) for name in names] == [bundle.sha256]
