"""Run the web server and the django-q2 cluster together, and stop both together."""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ota.devserver import disable_nagle


class Command(BaseCommand):
    help = "Serve HTTP (runserver) with a django-q2 cluster beside it, for development and demos."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--no-cluster", action="store_true", help="web server only")

    def handle(self, *args, host: str, port: int, no_cluster: bool, **options):
        # `kill <pid>` stops both processes the way Ctrl+C does.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started as a background job
            signal.signal(signal.SIGINT, _exit_on_signal)
        clusters = []
        if not no_cluster:
            # The default queue, and the long one for delta builds (settings.OTA_LONG_QUEUE).
            for name in ("", settings.OTA_LONG_QUEUE):
                env = {**os.environ, "Q_CLUSTER_NAME": name} if name else None
                cluster = subprocess.Popen(  # noqa: S603  (our own interpreter and manage.py)
                    [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
                    start_new_session=True,
                    env=env,
                )
                clusters.append(cluster)
                self.stderr.write(
                    f"django-q2 cluster {name or 'default'} started (pid {cluster.pid})."
                )
        disable_nagle()
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            for cluster in clusters:
                if cluster.poll() is None:
                    # To the cluster's main process only: it stops its own processes in turn,
                    # giving fetched tasks back (ota/task_cluster.py). Its group if it hangs.
                    cluster.send_signal(signal.SIGTERM)
            for cluster in clusters:
                try:
                    cluster.wait(timeout=settings.OTA_Q_STOP_GRACE_SECONDS + 10)
                except subprocess.TimeoutExpired:
                    os.killpg(cluster.pid, signal.SIGKILL)
            self.stderr.write("Stopped.")


def _exit_on_signal(signum, frame):
    raise SystemExit(0)
