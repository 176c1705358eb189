"""Replace one role's key: a new root version lists the new key and the role is re-signed."""

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand

from signing.models import Repo, Role


class Command(BaseCommand):
    help = "Give ROLE of REPO a fresh key (root N+1 lists it; the role is re-signed with it)."

    def add_arguments(self, parser):
        parser.add_argument("--repo", choices=[r.value for r in Repo], required=True)
        parser.add_argument("--role", choices=[r.value for r in Role], required=True)
        parser.add_argument("--root-keys", type=Path, help="directory of offline root key files")
        parser.add_argument("--offline-root", type=Path, help="with --role root: new keys here")

    def handle(self, *args, repo, role, root_keys, offline_root, **options):
        call_command(
            "sign_root",
            repo=repo,
            rotate=[role],
            root_keys=root_keys,
            offline_root=offline_root,
            stdout=self.stdout,
        )
