"""Public keys in TUF key form: parse, check the key material, compute the TUF keyid.

Pure: no ORM. Used for ECU keys at provisioning and, later, for repository role keys.
"""

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.signer import SSlibKey

# (keytype, scheme) pairs we accept; "ecdsa-sha2-nistp256" as a keytype is the legacy spelling.
SUPPORTED = {
    ("ed25519", "ed25519"),
    ("ecdsa", "ecdsa-sha2-nistp256"),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
}


# The shape parse_public_key takes, as the OpenAPI schema says it (rollouts/api/serializers.py).
# Whether the material is a key (a point on P-256) no schema can say: parse_public_key checks.
_ED25519_HEX = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
_PEM = {
    "type": "string",
    "pattern": "^-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=\\n]+-----END PUBLIC KEY-----\\n?$",
}
SCHEMA = {
    "type": "object",
    "properties": {
        "keytype": {"type": "string"},
        "scheme": {"type": "string"},
        "keyval": {"type": "object"},
    },
    "required": ["keytype", "scheme", "keyval"],
    "additionalProperties": False,
    "oneOf": [
        {
            "properties": {
                "keytype": {"enum": [keytype]},
                "scheme": {"enum": [scheme]},
                "keyval": {
                    "properties": {"public": _ED25519_HEX if keytype == "ed25519" else _PEM},
                    "required": ["public"],
                    "additionalProperties": False,
                },
            }
        }
        for keytype, scheme in sorted(SUPPORTED)
    ],
    "description": "TUF form: ed25519 as 64 hex digits, or ecdsa (P-256) as a PEM block.",
}


class InvalidPublicKey(ValueError):
    pass


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    key: dict[str, Any]  # normalised TUF form: {"keytype", "scheme", "keyval": {"public"}}

    def sslib_key(self) -> SSlibKey:
        return SSlibKey.from_dict(self.keyid, dict(self.key))


def parse_public_key(value: Any) -> PublicKey:
    """Validate a TUF public key dict and return it normalised with its keyid."""
    if not isinstance(value, dict):
        raise InvalidPublicKey("must be an object with keytype, scheme and keyval.public")
    keytype, scheme, keyval = value.get("keytype"), value.get("scheme"), value.get("keyval")
    if not isinstance(keyval, dict) or not isinstance(keyval.get("public"), str):
        raise InvalidPublicKey("keyval.public must be a string")
    # Strings first: a list or an object cannot be looked up in SUPPORTED (a TypeError, a 500).
    pair = (keytype, scheme) if isinstance(keytype, str) and isinstance(scheme, str) else None
    if pair not in SUPPORTED:
        raise InvalidPublicKey(
            "unsupported key: use keytype ed25519 with scheme ed25519, "
            "or keytype ecdsa with scheme ecdsa-sha2-nistp256"
        )
    public = keyval["public"].strip()
    crypto_key = _ed25519_from_hex(public) if keytype == "ed25519" else _p256_from_pem(public)
    sslib_key = SSlibKey.from_crypto(crypto_key, scheme=scheme)
    key = {"keytype": sslib_key.keytype, "scheme": sslib_key.scheme, "keyval": sslib_key.keyval}
    return PublicKey(keyid=sslib_key.keyid, key=key)


def _ed25519_from_hex(public: str) -> ed25519.Ed25519PublicKey:
    try:
        raw = bytes.fromhex(public)
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidPublicKey("an ed25519 public key is 64 hex characters (32 bytes)") from None


def _p256_from_pem(public: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(public.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise InvalidPublicKey("an ecdsa public key is a PEM SubjectPublicKeyInfo block") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidPublicKey("the ecdsa public key must be on curve P-256")
    return key
