"""Issuing and revoking people's API tokens, each audited."""

from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts import tokens
from accounts.models import UserToken
from audit.services import audit_record


def user_token_create(
    *, user: Any, name: str = "", expires_at: datetime | None = None, actor: Any = None
) -> tuple[UserToken, str]:
    """A new token for `user`, beside those it has; the plaintext, to be shown once."""
    minted = tokens.mint()
    token = UserToken.objects.create(
        user=user, name=name, prefix=minted.prefix, digest=minted.digest, expires_at=expires_at
    )
    audit_record(
        actor=actor,
        action="user_token.create",
        target=token,
        data={"user": user.get_username(), "name": name, "prefix": minted.prefix},
    )
    return token, minted.plaintext


def user_token_revoke(*, token: UserToken, actor: Any = None, reason: str = "") -> bool:
    """Revoke one token; False if it was revoked already."""
    revoked = UserToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(
            actor=actor,
            action="user_token.revoke",
            target=token,
            reason=reason,
            data={"user": token.user.get_username(), "prefix": token.prefix},
        )
    return bool(revoked)


def staff_with_token(
    *, username: str, group: str | tuple[str, ...], purpose: str, password: str | None = None
) -> tuple[Any, str]:
    """A staff member of `group` or groups (made if new) and a new API token named for
    `purpose`: the people of a test server. Answers the user and the token's plaintext."""
    from django.contrib.auth.models import Group, User

    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    groups = (group,) if isinstance(group, str) else group
    user.groups.set(Group.objects.filter(name__in=groups))
    _, token = user_token_create(user=user, name=purpose)
    return user, token
