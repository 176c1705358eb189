"""Signing keys behind one interface: encrypted local PEM, AWS KMS, or offline files.

Private key material is only ever held in memory while signing. It is stored as PKCS#8 PEM
encrypted with OTA_KEY_PASSPHRASE, written to files for offline custody, or never leaves KMS.
"""

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from securesystemslib.signer import CryptoSigner, Signature, Signer, SSlibKey

from signing.models import KeyBackend, SigningKey

# KMS signs at most 4,096 bytes as RAW; longer payloads are hashed here and sent as DIGEST.
KMS_RAW_LIMIT = 4096


class KeyUnavailable(Exception):
    """A key cannot sign here: offline, undecryptable, or its KMS key is unreachable."""


@dataclass(frozen=True)
class NewKey:
    public: SSlibKey
    backend: str
    encrypted_private_key: bytes | None = None
    kms_key_id: str = ""
    private_pem_for_custody: bytes | None = None  # offline keys: written out, never stored


def passphrase() -> bytes:
    return settings.OTA_KEY_PASSPHRASE.encode("utf-8")


def generate_local_key() -> NewKey:
    private = ed25519.Ed25519PrivateKey.generate()
    return NewKey(
        public=SSlibKey.from_crypto(private.public_key()),
        backend=KeyBackend.LOCAL,
        encrypted_private_key=encrypt_private_key(private),
    )


def generate_offline_key() -> NewKey:
    private = ed25519.Ed25519PrivateKey.generate()
    return NewKey(
        public=SSlibKey.from_crypto(private.public_key()),
        backend=KeyBackend.OFFLINE,
        private_pem_for_custody=encrypt_private_key(private),
    )


def generate_kms_key() -> NewKey:
    client = kms_client()
    key_id = client.create_key(
        KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="OTA TUF online role key"
    )["KeyMetadata"]["KeyId"]
    return NewKey(public=kms_public_key(key_id), backend=KeyBackend.KMS, kms_key_id=key_id)


def generate_online_key(backend: str) -> NewKey:
    """A key that signs unattended: in AWS KMS, or local and encrypted at rest."""
    return generate_kms_key() if backend == KeyBackend.KMS else generate_local_key()


def encrypt_private_key(private) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase()),
    )


def load_private_key(pem: bytes, password: bytes | None = None):
    """Decrypt a PEM private key with `password`, OTA_KEY_PASSPHRASE by default."""
    try:
        return serialization.load_pem_private_key(pem, password=password or passphrase())
    except (ValueError, TypeError) as exc:
        raise KeyUnavailable(f"cannot decrypt the private key: {exc}") from None


@functools.lru_cache(maxsize=32)
def _decrypted(pem: bytes, password: bytes):
    """Online keys sign on every changed decision; decrypting one costs half a millisecond.
    Keyed by the encrypted bytes and the passphrase: a new or rotated key is a new entry, and
    a changed passphrase is tried again."""
    return load_private_key(pem, password)


def public_key_of(row: SigningKey) -> SSlibKey:
    return SSlibKey.from_dict(row.keyid, dict(row.public_key))


def signer_for(row: SigningKey, *, custody_dir: Path | None = None) -> Signer:
    """A signer for a stored key. Offline keys need the custodian's directory of PEM files."""
    public = public_key_of(row)
    if row.backend == KeyBackend.LOCAL:
        return CryptoSigner(_decrypted(bytes(row.encrypted_private_key), passphrase()), public)
    if row.backend == KeyBackend.KMS:
        return KmsSigner(row.kms_key_id, public)
    if custody_dir is None:
        raise KeyUnavailable(f"{row} is offline: give the directory holding its key file")
    path = custody_dir / custody_file_name(row.keyid)
    if not path.exists():
        raise KeyUnavailable(f"{row} is offline and {path} does not exist")
    return CryptoSigner(load_private_key(path.read_bytes()), public)


def custody_file_name(keyid: str) -> str:
    return f"{keyid}.pem"


def write_custody_file(directory: Path, keyid: str, pem: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / custody_file_name(keyid)
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    return path


def kms_client():
    return boto3.client(
        "kms",
        region_name=settings.OTA_KMS_REGION or None,
        endpoint_url=settings.OTA_KMS_ENDPOINT_URL or None,
    )


def kms_public_key(key_id: str) -> SSlibKey:
    der = kms_client().get_public_key(KeyId=key_id)["PublicKey"]
    public = serialization.load_der_public_key(der)
    return SSlibKey.from_crypto(public, scheme="ecdsa-sha2-nistp256")


class KmsSigner(Signer):
    """ECDSA P-256 signatures made inside AWS KMS; TUF wants them DER-encoded, as KMS gives."""

    def __init__(self, key_id: str, public_key: SSlibKey):
        self.key_id = key_id
        self._public_key = public_key
        self._client = kms_client()

    @property
    def public_key(self) -> SSlibKey:
        return self._public_key

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri, public_key, secrets_handler=None):
        raise NotImplementedError("KMS keys are loaded from the database, not from a URI")

    def sign(self, payload: bytes) -> Signature:
        if len(payload) <= KMS_RAW_LIMIT:
            message, message_type = payload, "RAW"
        else:
            message, message_type = hashlib.sha256(payload).digest(), "DIGEST"
        answer = self._client.sign(
            KeyId=self.key_id,
            Message=message,
            MessageType=message_type,
            SigningAlgorithm="ECDSA_SHA_256",
        )
        return Signature(self.public_key.keyid, answer["Signature"].hex())
