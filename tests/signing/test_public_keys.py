import pytest

from signing.public_keys import InvalidPublicKey, parse_public_key
from tests.factories import EcuKey, p256_public_key


def test_an_ed25519_key_gets_the_keyid_python_tuf_would_compute():
    from securesystemslib.signer import SSlibKey

    key = EcuKey.generate()
    parsed = parse_public_key(key.tuf_public)
    expected = SSlibKey.from_crypto(key.private.public_key())
    assert parsed.keyid == expected.keyid
    assert parsed.sslib_key().keyval == key.tuf_public["keyval"]


def test_a_p256_key_is_accepted_with_the_legacy_keytype_spelling():
    key = p256_public_key() | {"keytype": "ecdsa-sha2-nistp256"}
    assert parse_public_key(key).key["scheme"] == "ecdsa-sha2-nistp256"


def test_a_signature_verifies_through_the_parsed_key():
    key = EcuKey.generate()
    parsed = parse_public_key(key.tuf_public)
    from securesystemslib.signer import Signature

    payload = b"manifest"
    signature = Signature(parsed.keyid, key.private.sign(payload).hex())
    parsed.sslib_key().verify_signature(signature, payload)


def test_a_p384_key_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(InvalidPublicKey, match="P-256"):
        parse_public_key(
            {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}}
        )


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {},
        {"keytype": "ed25519", "scheme": "ed25519"},
        {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": 5}},
        {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "ab" * 31}},
        {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": "not pem"}},
        {"keytype": "ed25519", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": "ab" * 32}},
        {"keytype": {}, "scheme": "ed25519", "keyval": {"public": "ab" * 32}},  # was a 500
        {"keytype": "ed25519", "scheme": ["ed25519"], "keyval": {"public": "ab" * 32}},
    ],
)
def test_malformed_keys_are_refused(value):
    with pytest.raises(InvalidPublicKey):
        parse_public_key(value)
