"""Signature checks on the poll path agree with securesystemslib, the reference, on both
schemes ECUs may use."""

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Signature

from signing.public_keys import parse_public_key
from signing.verify import signature_verifies
from tests.factories import EcuKey

PAYLOAD = b'{"report_counter":7,"vin":"WVWZZZ1JZXW000001"}'


def ed25519_signer():
    key = EcuKey.generate()
    parsed = parse_public_key(key.tuf_public)
    return parsed, lambda payload: key.private.sign(payload).hex()


def p256_signer():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    parsed = parse_public_key(
        {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}}
    )
    return parsed, lambda payload: private.sign(payload, ec.ECDSA(hashes.SHA256())).hex()


def reference_verdict(parsed, sig: str, payload: bytes) -> bool:
    try:
        parsed.sslib_key().verify_signature(Signature(parsed.keyid, sig), payload)
    except (UnverifiedSignatureError, ValueError):
        return False
    return True


def tampered(sig: str) -> str:
    """The same signature with its first byte changed."""
    return f"{(int(sig[:2], 16) ^ 0x01):02x}{sig[2:]}"


SIGNERS = {"ed25519": ed25519_signer, "ecdsa-p256": p256_signer}
CASES = {
    "a good signature": lambda sig, payload: (sig, payload),
    "another payload": lambda sig, payload: (sig, payload + b" "),
    "a changed byte": lambda sig, payload: (tampered(sig), payload),
    "a short signature": lambda sig, payload: (sig[:-2], payload),
    "not hex": lambda sig, payload: ("zz" + sig[2:], payload),
    "empty": lambda sig, payload: ("", payload),
}


@pytest.mark.parametrize("scheme", SIGNERS.keys())
@pytest.mark.parametrize("case", CASES.keys())
def test_the_verdict_is_the_reference_verdict(scheme, case):
    parsed, sign = SIGNERS[scheme]()
    sig, payload = CASES[case](sign(PAYLOAD), PAYLOAD)
    expected = reference_verdict(parsed, sig, payload)
    assert expected is (case == "a good signature")
    entries = [{"keyid": parsed.keyid, "sig": sig}]
    assert signature_verifies(parsed.keyid, parsed.key, entries, payload) is expected


def test_only_the_entry_for_the_key_counts():
    parsed, sign = ed25519_signer()
    other, sign_other = ed25519_signer()
    entries = [
        {"keyid": other.keyid, "sig": sign_other(PAYLOAD)},
        {"keyid": parsed.keyid, "sig": sign(PAYLOAD)},
    ]
    assert signature_verifies(parsed.keyid, parsed.key, entries, PAYLOAD)
    assert not signature_verifies(parsed.keyid, parsed.key, entries[:1], PAYLOAD)
    # Another key's signature under this key's id does not verify.
    forged = [{"keyid": parsed.keyid, "sig": sign_other(PAYLOAD)}]
    assert not signature_verifies(parsed.keyid, parsed.key, forged, PAYLOAD)


def test_a_signature_that_is_not_a_string_does_not_verify():
    parsed, _sign = ed25519_signer()
    assert not signature_verifies(parsed.keyid, parsed.key, [{"keyid": parsed.keyid}], PAYLOAD)
    entries = [{"keyid": parsed.keyid, "sig": 7}]
    assert not signature_verifies(parsed.keyid, parsed.key, entries, PAYLOAD)


def test_a_key_is_checked_by_its_own_public_bytes_whatever_was_checked_before():
    """Parsed keys are kept per process, by their public bytes: a re-registered ECU (a new key
    under a new keyid) is checked against its new key at once."""
    old, sign_old = ed25519_signer()
    new, _sign_new = ed25519_signer()
    good = [{"keyid": old.keyid, "sig": sign_old(PAYLOAD)}]
    assert signature_verifies(old.keyid, old.key, good, PAYLOAD)
    replayed = [{"keyid": new.keyid, "sig": sign_old(PAYLOAD)}]
    assert not signature_verifies(new.keyid, new.key, replayed, PAYLOAD)
