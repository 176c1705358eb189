"""Verify and publish a release exported by the main deployment (docs/isolated-markets.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from federation.package import PackageError
from federation.services.imports import describe, release_import
from ota.errors import DomainError


class Command(BaseCommand):
    help = "Verify the export in FOLDER (signature, every bundle's hashes), then publish it."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)

    def handle(self, *args, folder, **options):
        try:
            imported = release_import(folder=folder)
        except (PackageError, DomainError, OSError) as exc:
            raise CommandError(f"Refused: {getattr(exc, 'message', exc)}") from None
        self.stdout.write(describe(imported))
