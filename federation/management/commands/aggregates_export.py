"""Counts per release and market, no VIN: all an isolated deployment sends back, on purpose."""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.dateparse import parse_datetime


class Command(BaseCommand):
    help = "Write signed aggregate counts (no vehicle data) to OUT and OUT.sig."

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--since", help="ISO date-time; all history when not given")

    def handle(self, *args, out, since, **options):
        from federation.services.aggregates import aggregates_export

        report = aggregates_export(out=out, since=parse_datetime(since) if since else None)
        self.stdout.write(f"{len(report['releases'])} release/market rows written to {out}.")
