"""Domain errors shared by the apps; ota/api.py maps each kind to one HTTP status."""

from typing import Any


class DomainError(Exception):
    """A refusal a caller can act on. `code` is stable and machine-readable."""

    code = "invalid"
    message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, detail: dict[str, Any] | None = None):
        self.message = message or self.message
        self.detail = detail or {}
        super().__init__(self.message)


class Malformed(DomainError):
    """The input cannot be parsed or has the wrong shape (400)."""

    code = "malformed_request"


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""

    code = "forbidden"


class NotFound(DomainError):
    """The thing named does not exist (404)."""

    code = "not_found"


class Conflict(DomainError):
    """The state of the thing forbids this, or it exists already (409)."""

    code = "conflict"


class Unprocessable(DomainError):
    """Well-formed but invalid: bad signature, unknown ECU, unknown channel (422)."""

    code = "unprocessable"


class Unavailable(DomainError):
    """A part the server needs is down; the same request may work later (503, Retry-After)."""

    code = "unavailable"
    retry_after_seconds = 30
