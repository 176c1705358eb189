"""Work lost with its task: rows left in a working state longer than a task can take are
claimed (a conditional update on `status_changed_at`, so two sweeps never claim one twice)
and their task queued again once the claim commits."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

logger = logging.getLogger(__name__)


def resume_stalled(
    model: type[models.Model],
    *,
    status: str,
    after: timedelta,
    now: datetime,
    enqueue: Callable[[int], object],
) -> list[int]:
    stalled = model.objects.filter(status=status).filter(
        Q(status_changed_at__lt=now - after) | Q(status_changed_at__isnull=True)
    )
    resumed = []
    for pk, changed_at in stalled.values_list("pk", "status_changed_at"):
        claimed = model.objects.filter(pk=pk, status=status, status_changed_at=changed_at).update(
            status_changed_at=now
        )
        if claimed:
            logger.warning(
                "%s %s was %s since %s: queued again.", model.__name__, pk, status, changed_at
            )
            transaction.on_commit(lambda pk=pk: enqueue(pk))
            resumed.append(pk)
    return resumed


def long_task_stalled_after() -> timedelta:
    """A task on the long queue is done by then or was lost with its task (django-q2 stops it
    at `timeout`; the ORM broker hands it out again at `retry`, the Redis broker never)."""
    long = settings.Q_CLUSTER["ALT_CLUSTERS"][settings.OTA_LONG_QUEUE]
    return timedelta(seconds=long["timeout"] + long["retry"])
