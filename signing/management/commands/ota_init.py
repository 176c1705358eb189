"""Create the signing keys and root version 1 of the Image and Director repositories."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ota.errors import DomainError
from signing.models import Repo
from signing.repository import latest, repository_initialize


class Command(BaseCommand):
    help = (
        "Create distinct keys for every role of both repositories and sign root version 1. "
        "With --offline-root DIR the root private keys are written to DIR (encrypted with "
        "OTA_KEY_PASSPHRASE) and none is kept on the server. Safe to run again: an initialised "
        "repository is left alone."
    )
    requires_system_checks = []  # the key check would ask for the keys this command creates

    def add_arguments(self, parser):
        parser.add_argument("--root-threshold", type=int, default=1)
        parser.add_argument("--offline-root", type=Path, help="write root private keys here")
        parser.add_argument("--repo", choices=[r.value for r in Repo], action="append")

    def handle(self, *args, root_threshold: int, offline_root: Path | None, repo, **options):
        if root_threshold < 1:
            raise CommandError("--root-threshold must be at least 1")
        for name in repo or [Repo.IMAGE, Repo.DIRECTOR]:
            if latest(name, "root") is not None:
                self.stdout.write(f"{name}: already initialised, left alone.")
                continue
            directory = offline_root / name if offline_root else None
            try:
                result = repository_initialize(
                    repo=name,
                    root_threshold=root_threshold,
                    offline_root_dir=directory,
                    online_backend=settings.OTA_ONLINE_KEY_BACKEND,
                )
            except (DomainError, OSError) as exc:
                raise CommandError(f"{name}: {exc}") from None
            self.stdout.write(
                f"{name}: root version 1 signed by {len(result.root_keyids)} key(s), "
                f"threshold {root_threshold}."
            )
            for path in result.custody_files:
                self.stdout.write(f"  offline root key written to {path} (move it off this host)")
