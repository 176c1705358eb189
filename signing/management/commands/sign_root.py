"""Sign the next root version, optionally rotating keys, with old and new root keys."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ota.errors import DomainError
from signing.keys import KeyUnavailable
from signing.models import Repo, Role
from signing.repository import root_sign_next


class Command(BaseCommand):
    help = (
        "Sign root N+1 (renewing its expiry) with a threshold of the current root keys. "
        "--rotate ROLE gives ROLE fresh keys (repeatable; 'root' rotates the root keys, then "
        "root N+1 is signed by old and new). Offline root keys are read from --root-keys DIR."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repo", choices=[r.value for r in Repo], required=True)
        parser.add_argument("--rotate", choices=[r.value for r in Role], action="append")
        parser.add_argument("--root-threshold", type=int)
        parser.add_argument("--root-keys", type=Path, help="directory of offline root key files")
        parser.add_argument("--offline-root", type=Path, help="write new root keys here")

    def handle(self, *args, repo, rotate, root_threshold, root_keys, offline_root, **options):
        try:
            result = root_sign_next(
                repo=repo,
                rotate_roles=set(rotate or []),
                root_threshold=root_threshold,
                custody_dir=root_keys,
                offline_root_dir=offline_root,
            )
        except (DomainError, KeyUnavailable) as exc:
            raise CommandError(str(exc)) from None
        rotated = ", ".join(result.rotated_roles) or "no keys"
        self.stdout.write(f"{repo}: root version {result.version} signed; rotated {rotated}.")
        for path in result.custody_files:
            self.stdout.write(f"  new offline root key written to {path}")
