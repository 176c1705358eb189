"""`manage.py simulate_fleet`: drive simulated reference vehicles against a running server."""

import os
import sys
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import user_token_create
from ota_testing.api import ApiError
from ota_testing.simulator import Summary, simulate

BAR = 30


class Command(BaseCommand):
    help = (
        "Provision N simulated vehicles on a server (any URL) and drive them for a while in "
        "real time: they poll, install what they are offered (a share fails), drive and report "
        "their health; prints progress and a summary with the halts seen."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server")
        who = parser.add_mutually_exclusive_group()
        who.add_argument(
            "--token",
            default=os.environ.get("OTA_API_TOKEN"),
            help="an API token allowed to add vehicles (default: $OTA_API_TOKEN)",
        )
        who.add_argument(
            "--user", help="mint a one-day token for this user in this server's own database"
        )
        parser.add_argument("--vehicles", type=int, default=100)
        parser.add_argument("--minutes", type=float, default=5.0, help="how long to run")
        parser.add_argument("--poll-seconds", type=float, default=10.0, help="between rounds")
        parser.add_argument("--model", default="Aurora")
        parser.add_argument("--region", default="EU")
        parser.add_argument("--channel", default=None, help="default: the server's default")
        parser.add_argument(
            "--hardware-ids",
            default="tcu-gen3,hu-gen7,bms-v2",
            help="comma-separated; the first is the primary ECU",
        )
        parser.add_argument("--failure-rate", type=float, default=0.0, help="share of installs")
        parser.add_argument("--crash-rate", type=float, default=0.05, help="crashes per hour")
        parser.add_argument(
            "--crash-rate-after-install",
            type=float,
            default=None,
            help="crashes per hour once a car runs an update (default: as before)",
        )

    _tenths_shown = -1

    def handle(self, *args, **options):
        token = options["token"]
        if options["user"]:
            token = self._mint(options["user"])
        if not token:
            raise CommandError("Give --token (or set OTA_API_TOKEN), or --user NAME.")
        for name in ("vehicles", "minutes", "poll_seconds"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')} must be positive.")
        if not 0 <= options["failure_rate"] <= 1:
            raise CommandError("--failure-rate is a share between 0 and 1.")
        hardware_ids = tuple(h.strip() for h in options["hardware_ids"].split(",") if h.strip())
        if not hardware_ids:
            raise CommandError("--hardware-ids names at least one hardware id.")
        self.stderr.write(
            f"{options['vehicles']} vehicles against {options['url']} for "
            f"{options['minutes']:g} min …"
        )
        try:
            summary = simulate(
                options["url"],
                token,
                vehicles=options["vehicles"],
                duration=timedelta(minutes=options["minutes"]),
                poll_every=timedelta(seconds=options["poll_seconds"]),
                model=options["model"],
                region=options["region"],
                channel=options["channel"],
                hardware_ids=hardware_ids,
                fail=options["failure_rate"],
                crashes_per_hour=options["crash_rate"],
                crashes_after_install=options["crash_rate_after_install"],
                progress=self._progress,
            )
        except ApiError as exc:
            raise CommandError(f"The server refused: {exc}") from None
        except OSError as exc:  # connection refused, DNS: say where
            raise CommandError(f"Cannot reach {options['url']}: {exc}") from None
        self.stderr.write("")
        for line in summary.lines():
            self.stdout.write(line)

    def _progress(self, done: float, summary: Summary) -> None:
        filled = int(done * BAR)
        line = (
            f"[{'#' * filled}{'.' * (BAR - filled)}] {done:4.0%} {summary.seconds:5.0f} s  "
            f"polls {summary.polls}  offers {summary.offered}  installs {summary.installed}  "
            f"failed {summary.failed}  halts {len(summary.halts_seen)}"
        )
        if sys.stderr.isatty():
            self.stderr.write("\r" + line, ending="")
        elif int(done * 10) > self._tenths_shown:  # a log: a line per tenth of the run
            self._tenths_shown = int(done * 10)
            self.stderr.write(line)

    @staticmethod
    def _mint(username: str) -> str:
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user {username!r} in this server's database.")
        _, token = user_token_create(
            user=user, name="simulate_fleet", expires_at=timezone.now() + timedelta(days=1)
        )
        return token
