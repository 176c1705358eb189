"""The Image repository's `timestamp.json`, kept by each web process for a short lease.

It is the busiest URL of the fleet and the same bytes for every car, so reading it from the
database on each request is waste. But a TUF client refuses a timestamp older than one it has
seen (a rollback), and a car's requests land on any process of any node: no process may serve
an older version after any process has served a newer one. Two rules make that hold without
the processes talking to each other:

- A process serves its copy for at most `lease` seconds, counted from just before the read
  that fetched it (its own monotonic clock).
- A new Image version is servable only from `serve_from`: the database's clock when it was
  stored, plus the lease and a margin for its transaction to commit (`servable_from`).
  Readers take the newest servable version; one that sees a newer version still waiting
  keeps its copy no longer than until that version's `serve_from`.

So a copy read before a version committed expires before that version becomes servable, and
a copy read after it expires the moment it does. With a lease of 0 every request reads the
database, and a stored version is servable at once.

The price is that new Image metadata reaches cars `lease + margin` seconds after it commits;
a rollout start waits that out (`wait_until_image_servable`), so the Director never names a
target the Image repository does not list yet.
"""

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from ota.rawsql import database_now

# Between a version's INSERT and its COMMIT: the end of its publishing transaction.
COMMIT_MARGIN_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Newest:
    """What one read of the database found."""

    raw: bytes
    version: int
    pending_in: float | None  # seconds until the next newer version becomes servable


@dataclass(frozen=True)
class Copy:
    raw: bytes
    version: int
    etag: str
    until: float  # the process's monotonic clock


class LeasedMetadata:
    """One role's newest servable metadata, per process, for at most `lease` seconds."""

    def __init__(
        self, read: Callable[[], Newest | None], clock: Callable[[], float] = time.monotonic
    ):
        self._read, self._clock = read, clock
        self._copy: Copy | None = None
        self._lock = threading.Lock()

    def get(self, lease: float) -> Copy | None:
        began = self._clock()
        copy = self._copy
        if copy is not None and began < copy.until:
            return copy
        with self._lock:  # one read per expiry, whatever the threads
            copy = self._copy
            if copy is not None and self._clock() < copy.until:
                return copy  # another thread read it while this one waited
            newest = self._read()
            if newest is None:
                return None
            until = began + lease
            if newest.pending_in is not None:
                until = min(until, began + max(newest.pending_in, 0.0))
            etag = f'"{hashlib.sha256(newest.raw).hexdigest()}"'
            self._copy = Copy(newest.raw, newest.version, etag, until)
            return self._copy

    def forget(self) -> None:
        self._copy = None


def lease_seconds() -> float:
    return max(0.0, float(settings.OTA_IMAGE_TIMESTAMP_LEASE_SECONDS))


def servable_from() -> datetime | None:
    """When an Image version stored now may be served; None: at once (no lease)."""
    lease = lease_seconds()
    if not lease:
        return None
    return database_now() + timedelta(seconds=lease + COMMIT_MARGIN_SECONDS)


def wait_until_image_servable() -> float:
    """Block until every stored Image version may be served; the seconds waited. A rollout
    must not start before the Image repository lists its targets to every car that asks."""
    from signing.selectors import image_pending_until

    now = database_now()
    pending = image_pending_until(now)
    if pending is None:
        return 0.0
    # Bounded, should a row hold a bogus serve_from: no sane lease is a minute long.
    wait = min((pending - now).total_seconds(), LONGEST_WAIT_SECONDS)
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)
