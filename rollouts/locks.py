"""Making decisions and halts take turns (PostgreSQL advisory locks; SQLite has one writer).

Every transaction that decides what vehicles get takes the shared lock first, before any row
lock; whatever stops a rollout from offering (halt, pause, abort) takes the exclusive one.
PostgreSQL queues these fairly: a halt waits for the decisions under way, and decisions
asking after it wait for the halt, then see it. Once a halt commits, no poll offers anew.
"""

from django.db import connection

DECISIONS = 0x07A_D3C1  # one application-wide key


def lock_decisions_shared() -> None:
    _lock("pg_advisory_xact_lock_shared")


def lock_decisions_exclusive() -> None:
    _lock("pg_advisory_xact_lock")


def _lock(function: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [DECISIONS])


def lock_vehicle(pk: int):
    """The vehicle's row, locked until the transaction ends, with its channel read. Only the
    vehicle's own row: a plain select_for_update would lock the joined channel row too, and
    every poll on a channel would queue behind the others (and behind a halt)."""
    from rollouts.selectors import vehicle_locked

    return vehicle_locked(pk=pk)[0]
