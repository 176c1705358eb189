"""`ota_testserver`: the server the pytest plugin starts for a test suite (ota_testing/).

Migrates its own database, signs root version 1 of both repositories, creates an author and an
approver with API tokens, then serves HTTP on 127.0.0.1 with django-q2 tasks run inline (no
cluster to wait for). When it listens it writes what a suite needs, as JSON, to
`--ready-file`. Refused unless OTA_TEST_CLOCK is on: this is a test server, with a clock tests
move.
"""

import json
import os
import secrets
import threading
import time
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer
from django.core.wsgi import get_wsgi_application

from accounts.services import staff_with_token
from ota.devserver import NoDelayRequestHandler
from rollouts.roles import APPROVER, HOMOLOGATION, RELEASE_ENGINEER

# The two people of the four-eyes rule: the author cannot approve their own release.
USERS = {
    "author": ("ota-author", RELEASE_ENGINEER),
    "approver": ("ota-approver", (APPROVER, HOMOLOGATION)),
}


class Command(BaseCommand):
    help = "Serve a fresh test server and write its URL and API tokens to --ready-file."

    def add_arguments(self, parser):
        parser.add_argument("--ready-file", type=Path, required=True)
        parser.add_argument("--port", type=int, default=0, help="0: any free port")
        parser.add_argument(
            "--parent-pid", type=int, default=None, help="stop when this process is gone"
        )

    def handle(self, *args, ready_file: Path, port: int, parent_pid: int | None, **options):
        if not settings.OTA_TEST_CLOCK:
            raise CommandError("ota_testserver needs OTA_TEST_CLOCK=1 (a test server only).")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("ota_init", verbosity=0)
        people = {role: _person(username, group) for role, (username, group) in USERS.items()}

        from django_q.conf import Conf

        Conf.SYNC = True  # queued tasks run at once, in the request that queues them

        def ready(bound_port: int) -> None:
            url = f"http://127.0.0.1:{bound_port}"
            partial = ready_file.with_suffix(".partial")
            partial.write_text(json.dumps({"url": url, "pid": os.getpid(), **people}))
            partial.chmod(0o600)
            partial.replace(ready_file)  # whole or absent: the plugin polls for it
            self.stdout.write(f"OTA test server at {url}/ (admin: {url}/admin/)", ending="\n")
            self.stdout.flush()

        server = ThreadedWSGIServer(("127.0.0.1", port), NoDelayRequestHandler)
        server.set_app(StaticFilesHandler(get_wsgi_application()))
        if parent_pid:
            watch = threading.Thread(target=_stop_without, args=(server, parent_pid), daemon=True)
            watch.start()
        ready(server.server_port)
        server.serve_forever()


def _stop_without(server: ThreadedWSGIServer, parent: int) -> None:
    """A suite killed outright cannot stop its server: the server stops itself once the
    suite's process is no longer its parent (it was adopted by another)."""
    while os.getppid() == parent:
        time.sleep(1)
    server.shutdown()


def _person(username: str, group: str) -> dict:
    """A staff member of `group` with a password (to look at the admin while a test is
    paused) and an API token."""
    password = secrets.token_urlsafe(12)
    _, token = staff_with_token(
        username=username, group=group, purpose="ota_testserver", password=password
    )
    return {"username": username, "password": password, "token": token}
