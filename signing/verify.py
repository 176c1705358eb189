"""Signature checks of what vehicles sign (manifests, ECU reports), on the poll path.

Every poll checks one signature per ECU; Ed25519 is checked with libsodium (PyNaCl), which
does it in half the time OpenSSL takes here, and a key's parsed form is kept per process (an
ECU key is immutable once registered: a new key has a new keyid). Other schemes go through
securesystemslib. Pure: no ORM.
"""

import functools
from collections.abc import Iterable, Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Signature, SSlibKey

_KEYS_KEPT = 4096  # parsed keys per process: a few ECUs of the cars polling at once


def signature_verifies(
    keyid: str, public_key: Mapping, signatures: Iterable[Mapping], payload: bytes
) -> bool:
    """TUF-style: the entry for `keyid` among `signatures` is a valid hex signature over
    `payload` (the canonical JSON of what was signed) by `public_key`."""
    for entry in signatures:
        if entry.get("keyid") != keyid:
            continue
        sig = entry.get("sig")
        if not isinstance(sig, str):
            return False
        if public_key.get("keytype") == "ed25519" and public_key.get("scheme") == "ed25519":
            return _ed25519_verifies(public_key["keyval"]["public"], sig, payload)
        return _sslib_verifies(keyid, _frozen(public_key), sig, payload)
    return False


def _ed25519_verifies(public_hex: str, sig_hex: str, payload: bytes) -> bool:
    try:
        key, signature = _ed25519_key(public_hex), bytes.fromhex(sig_hex)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    try:
        key.verify(payload, signature)
    except BadSignatureError:
        return False
    return True


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _ed25519_key(public_hex: str) -> VerifyKey:
    raw = bytes.fromhex(public_hex)
    if len(raw) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    return VerifyKey(raw)


def _sslib_verifies(keyid: str, public_key: tuple, sig: str, payload: bytes) -> bool:
    try:
        _sslib_key(keyid, public_key).verify_signature(Signature(keyid, sig), payload)
    except (UnverifiedSignatureError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=_KEYS_KEPT)
def _sslib_key(keyid: str, public_key: tuple) -> SSlibKey:
    keytype, scheme, public = public_key
    return SSlibKey(keyid, keytype, scheme, {"public": public})


def _frozen(public_key: Mapping) -> tuple:
    """A hashable form of a TUF public key, for the cache."""
    return (public_key["keytype"], public_key["scheme"], public_key["keyval"]["public"])
