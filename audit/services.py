"""Writing the audit trail."""

from typing import Any

from django.db import models

from audit.models import AuditEvent


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model,
    reason: str = "",
    data: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Record one state change. `actor` is a user, or None for the system (give `actor_label`)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = actor_label or (user.get_username() if user else "system")
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label[:150],
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        reason=reason,
        data=data or {},
    )


def audit_record_many(
    *, actor: Any, action: str, targets: list[models.Model], data: dict[str, Any] | None = None
) -> None:
    """One row per target, in one INSERT (bulk provisioning)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = user.get_username() if user else "system"
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=user,
            actor_label=label,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            target_repr=str(target)[:200],
            data=data or {},
        )
        for target in targets
    )
