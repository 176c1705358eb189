"""Vehicle bearer tokens. Pure: no ORM.

A token reads `vt_<public id>_<secret>`. The public id finds the row; only the SHA-256 of the
secret is stored, and it is compared in constant time. The secret carries 256 bits of
randomness, so a fast hash is enough: there is nothing to brute-force.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "vt"
_TOKEN_RE = re.compile(r"^vt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedToken:
    public_id: str
    secret_hash: str
    plaintext: str  # shown once to the caller, never stored


def issue_token() -> IssuedToken:
    public_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return IssuedToken(
        public_id=public_id,
        secret_hash=hash_secret(secret),
        plaintext=f"{PREFIX}_{public_id}_{secret}",
    )


def split_token(token: str) -> tuple[str, str] | None:
    """(public id, secret), or None when the string cannot be one of our tokens."""
    match = _TOKEN_RE.match(token)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
