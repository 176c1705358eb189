"""The harness inside a pytest-django suite: our apps in the host's settings, the server is
pytest-django's `live_server`, the data the test database (`ota_live_server`).

The clock is the test server's (ota/server_clock.py), standing in for
`django.utils.timezone.now` in this process (the live server's thread included) until the test
ends; the host's settings are left as they are.
"""

import importlib
import itertools
from datetime import datetime
from pathlib import Path

from django.apps import apps
from django.core.management import call_command

from accounts.services import staff_with_token
from ota import server_clock
from ota_testing.api import ManagementClient
from ota_testing.clock import clock_step
from ota_testing.harness import OtaServer
from rollouts.roles import APPROVER, HOMOLOGATION, RELEASE_ENGINEER, sync_roles

_numbers = itertools.count(1)


class LocalClock:
    """The test server's movable clock (ota/server_clock.py), in this process for one test."""

    def __init__(self) -> None:
        self._replaced = server_clock.install()

    @staticmethod
    def now() -> datetime:
        return server_clock.now()

    def advance(self, by=None, *, days=0, hours=0, minutes=0, seconds=0) -> datetime:
        step = clock_step(by, days=days, hours=hours, minutes=minutes, seconds=seconds)
        return server_clock.advance(step)

    def close(self) -> None:
        server_clock.uninstall(self._replaced)


class LiveOtaServer(OtaServer):
    def bundle(self, data: bytes, **kwargs) -> dict:
        bundle = super().bundle(data, **kwargs)
        # The Image timestamp this process serves is leased for a second: a car reads what
        # the test just signed at once.
        from signing.views import IMAGE_TIMESTAMP

        IMAGE_TIMESTAMP.forget()
        return bundle


def _person(username: str, group: str | tuple[str, ...], url: str) -> ManagementClient:
    _, token = staff_with_token(username=username, group=group, purpose="ota_live_server")
    return ManagementClient(url, token, username=username)


def live_ota_server(url: str, workdir: Path) -> tuple[LiveOtaServer, LocalClock]:
    """Prepare the test database as `migrate` and `ota_init` leave a server (a transactional
    test's flush removes the channels a data migration made), then the two people."""
    pipeline = importlib.import_module("rollouts.migrations.0002_default_channels")
    pipeline.create_pipeline(apps, None)
    sync_roles()
    call_command("ota_init", verbosity=0)
    n = next(_numbers)
    author = _person(f"ota-author-{n}", RELEASE_ENGINEER, url)
    approver = _person(f"ota-approver-{n}", (APPROVER, HOMOLOGATION), url)
    clock = LocalClock()
    try:
        server = LiveOtaServer(
            url=url, author=author, approver=approver, clock=clock, workdir=Path(workdir)
        )
    except BaseException:
        clock.close()
        raise
    return server, clock
