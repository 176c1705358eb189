"""Large bundles stream: memory stays flat whatever the bundle size."""

import hashlib
import http.client
import os
import tracemalloc
import uuid
from urllib.parse import urlsplit

import pytest

from accounts.services import user_token_create
from signing.models import Bundle

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

SIZE = 300 * 1024 * 1024
CHUNK = 1024 * 1024


def write_random_file(path, size: int) -> tuple[str, str]:
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for index in range(size // CHUNK):
            chunk = block[index % 251 :] + block[: index % 251]  # distinct chunks, no repeats
            handle.write(chunk)
            sha256.update(chunk)
            sha512.update(chunk)
    return sha256.hexdigest(), sha512.hexdigest()


def stream_multipart(url: str, token: str, fields: dict, file_path) -> tuple[int, bytes]:
    """POST multipart/form-data with a declared length, sending the file in 1 MiB chunks."""
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + file_path.stat().st_size + len(tail)

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    connection.putrequest("POST", parts.path)
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    connection.send(head)
    with file_path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    return response.status, response.read()


def test_uploading_300_mb_raises_peak_memory_by_less_than_100_mb(
    live_server, engineer, repos, tmp_path
):
    path = tmp_path / "big.bin"
    sha256, sha512 = write_random_file(path, SIZE)
    _, token = user_token_create(user=engineer, name="upload test")
    fields = {
        "path": "hu-gen7/big.bin",
        "hardware_id": "hu-gen7",
        "version": "9.0.0",
        "release_counter": "900",
    }

    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        status, body = stream_multipart(
            f"{live_server.url}/api/v1/manage/bundles", token, fields, path
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(f"peak growth {(peak - baseline) / 2**20:.1f} MiB")
    assert status == 201, body[:500]
    assert peak - baseline < 100 * 1024 * 1024, f"peak grew by {(peak - baseline) >> 20} MiB"
    bundle = Bundle.objects.get(path="hu-gen7/big.bin")
    assert (bundle.length, bundle.sha256, bundle.sha512) == (SIZE, sha256, sha512)
