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
    event = _event(actor, actor_label, action, target, reason, data)
    event.save()
    return event


def audit_record_many(
    *,
    actor: Any,
    action: str,
    targets: list[models.Model],
    data: dict[str, Any] | None = None,
    actor_label: str = "",
) -> None:
    """One row per target, in one INSERT (bulk provisioning)."""
    AuditEvent.objects.bulk_create(
        _event(actor, actor_label, action, target, "", data) for target in targets
    )


def _event(actor, actor_label, action, target, reason, data) -> AuditEvent:
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = actor_label or (user.get_username() if user else "system")
    return AuditEvent(
        actor=user,
        actor_label=label[:150],
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        reason=reason,
        data=data or {},
    )
