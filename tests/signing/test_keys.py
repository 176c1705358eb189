"""Keys: encrypted at rest, never shown, KMS-signed metadata verified by python-tuf."""

import hashlib

import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import SSlibKey

from signing import keys, repository
from signing.models import KeyBackend, Repo, SigningKey
from tests.signing.conftest import download


@pytest.fixture
def kms(settings, moto_endpoint, aws_credentials):
    settings.OTA_KMS_ENDPOINT_URL = moto_endpoint
    settings.OTA_KMS_REGION = "eu-central-1"


def private_materials() -> list[str]:
    """What a leak would look like: each local key's PEM body and raw private bytes in hex."""
    found = []
    for row in SigningKey.objects.filter(backend=KeyBackend.LOCAL):
        private = keys.load_private_key(bytes(row.encrypted_private_key))
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        found += [raw.hex(), bytes(row.encrypted_private_key).decode().splitlines()[1]]
    return found


@pytest.mark.django_db
def test_private_keys_are_stored_encrypted_with_the_passphrase(repos, settings):
    rows = SigningKey.objects.filter(backend=KeyBackend.LOCAL)
    assert rows.count() == 8  # four roles in each of two repositories
    assert len({row.keyid for row in rows}) == 8  # distinct keys
    for row in rows:
        assert bytes(row.encrypted_private_key).startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY")
    settings.OTA_KEY_PASSPHRASE = "not the passphrase"
    with pytest.raises(keys.KeyUnavailable):
        keys.load_private_key(bytes(rows.first().encrypted_private_key))


@pytest.mark.django_db
def test_private_keys_appear_in_no_response(repos, publish, admin_client, engineer_api):
    bundle, _ = publish()
    pages = [
        admin_client.get("/admin/signing/signingkey/"),
        admin_client.get(f"/admin/signing/signingkey/{SigningKey.objects.first().pk}/change/"),
        admin_client.get("/admin/signing/rolemetadata/"),
        admin_client.get("/admin/signing/bundle/"),
        admin_client.get("/api/v1/tuf/image/metadata/1.root.json"),
        admin_client.get("/api/v1/tuf/image/metadata/2.targets.json"),
        engineer_api.get(f"/api/v1/manage/bundles/{bundle.pk}"),
        admin_client.get("/api/schema/"),
    ]
    secrets = private_materials()
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert not [secret for secret in secrets if secret in text]
        assert "PRIVATE KEY" not in text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_kms_signed_metadata_verifies_in_python_tuf(kms, tuf_client, settings):
    repository.repository_initialize(repo=Repo.IMAGE, online_backend="kms")
    online = SigningKey.objects.filter(repo=Repo.IMAGE).exclude(role="root")
    assert {(k.backend, k.public_key["scheme"]) for k in online} == {("kms", "ecdsa-sha2-nistp256")}
    assert not online.filter(encrypted_private_key__isnull=False).exists()

    import io

    from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish

    bundle = bundle_ingest_file(
        spec=BundleSpec("bms-v2/pack.bin", "bms-v2", "2.0", 20),
        stream=io.BytesIO(b"cells"),
        actor=None,
    )
    bundle_publish(bundle=bundle, actor=None)
    assert download(tuf_client(), "bms-v2/pack.bin") == b"cells"


def test_kms_signs_long_payloads_as_a_digest():
    """KMS takes at most 4 KiB as RAW: longer metadata is hashed here and sent as DIGEST."""
    public = SSlibKey("k", "ecdsa", "ecdsa-sha2-nistp256", {"public": "unused"})
    signer = keys.KmsSigner.__new__(keys.KmsSigner)
    signer.key_id, signer._public_key = "alias/ota", public
    signer._client = keys.boto3.client("kms", region_name="eu-central-1")
    payload = b"x" * 5000
    with Stubber(signer._client) as stub:
        stub.add_response(
            "sign",
            {"Signature": b"\x30\x06", "KeyId": "alias/ota", "SigningAlgorithm": "ECDSA_SHA_256"},
            {
                "KeyId": "alias/ota",
                "Message": hashlib.sha256(payload).digest(),
                "MessageType": "DIGEST",
                "SigningAlgorithm": "ECDSA_SHA_256",
            },
        )
        assert signer.sign(payload).signature == "3006"
