"""The keys that sign what leaves the server on purpose: evidence exports and release exports.

Held like the repositories' online keys (`OTA_ONLINE_KEY_BACKEND`: encrypted local PEM or AWS
KMS), rotated like them, and published with their PEM so that anyone can verify with OpenSSL."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from compliance.models import ExportKey
from signing import keys
from signing.public_keys import parse_public_key


def export_key_active(purpose: str) -> ExportKey:
    """The key that signs new files of this purpose; made on first use."""
    key = ExportKey.objects.filter(purpose=purpose, retired_at__isnull=True).first()
    return key or _export_key_new(purpose)


@transaction.atomic
def export_key_rotate(*, purpose: str, actor=None) -> ExportKey:
    """A new key signs from now on; the old one is retired and stays published."""
    retired = list(
        ExportKey.objects.select_for_update().filter(purpose=purpose, retired_at__isnull=True)
    )
    ExportKey.objects.filter(pk__in=[k.pk for k in retired]).update(retired_at=timezone.now())
    key = _export_key_new(purpose)
    audit_record(
        actor=actor,
        actor_label="" if actor else "key rotation",
        action="export_key.rotated",
        target=key,
        data={"purpose": purpose, "retired": [k.keyid for k in retired], "new": key.keyid},
    )
    return key


def _export_key_new(purpose: str) -> ExportKey:
    new = keys.generate_online_key(settings.OTA_ONLINE_KEY_BACKEND)
    return ExportKey.objects.create(
        purpose=purpose,
        keyid=new.public.keyid,
        public_key=new.public.to_dict(),
        backend=new.backend,
        encrypted_private_key=new.encrypted_private_key,
        kms_key_id=new.kms_key_id,
    )


def export_sign(key: ExportKey, payload: bytes) -> bytes:
    """Raw Ed25519 (local keys) or DER ECDSA P-256 over SHA-256 (KMS): what OpenSSL checks."""
    return bytes.fromhex(keys.signer_for(key).sign(payload).signature)


def public_key_pem(key: ExportKey) -> str:
    """The key as a PEM SubjectPublicKeyInfo block, what `openssl` reads."""
    public = parse_public_key(key.public_key).sslib_key().keyval["public"]
    if key.public_key["keytype"] != "ed25519":
        return public  # ECDSA keys are kept in PEM already
    loaded = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
    return loaded.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_file_name(key: ExportKey) -> str:
    return f"{key.purpose}-key-{key.keyid[:16]}.pem"


def verify_command(key: ExportKey, name: str) -> str:
    """What an auditor runs in the folder holding the file, its digest line and signature,
    and the key."""
    pem = key_file_name(key)
    if key.public_key["keytype"] == "ed25519":
        check = f"openssl pkeyutl -verify -pubin -inkey {pem} -rawin"
        check += f" -in {name}.sha256 -sigfile {name}.sha256.sig"
    else:
        check = f"openssl dgst -sha256 -verify {pem} -signature {name}.sha256.sig {name}.sha256"
    return f"{check} && sha256sum -c {name}.sha256"
