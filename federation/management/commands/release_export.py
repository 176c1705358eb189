"""Export an approved release for an isolated market's deployment (docs/isolated-markets.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from federation.services.exports import release_export
from ota.errors import DomainError
from rollouts.models import Release


class Command(BaseCommand):
    help = "Write VERSION's bundles, approvals and signed manifest into OUT for MARKET(s)."

    def add_arguments(self, parser):
        parser.add_argument("version")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--market", action="append", required=True, dest="markets")

    def handle(self, *args, version, out, markets, **options):
        release = Release.objects.filter(version=version).first()
        if release is None:
            raise CommandError(f"No release {version!r}.")
        try:
            release_export(release=release, markets=markets, out=out)
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.detail}") from None
        self.stdout.write(f"Exported {version} for {', '.join(markets)} into {out}.")
