"""People's API tokens. Pure: no ORM.

A token is 40 hex digits, the shape DRF's own keys had, so `Authorization: Token <token>` and
every key issued before keep working. Its first 12 digits find the row; only the SHA-256 of
the whole token is stored, compared in constant time. 160 random bits leave nothing to
brute-force, so a fast hash is enough (vehicle tokens do the same: rollouts/tokens.py).
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX_LENGTH = 12
_TOKEN_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class MintedToken:
    prefix: str
    digest: str
    plaintext: str  # shown once, never stored


def mint() -> MintedToken:
    return of(secrets.token_hex(20))


def of(plaintext: str) -> MintedToken:
    """The stored parts of a token (a new one, or a key issued before)."""
    return MintedToken(plaintext[:PREFIX_LENGTH], digest(plaintext), plaintext)


def well_formed(plaintext: str) -> bool:
    return bool(_TOKEN_RE.match(plaintext))


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("ascii")).hexdigest()


def matches(plaintext: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(plaintext), stored_digest)
