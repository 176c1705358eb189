"""Provision vehicles from a CSV file, all or nothing, and write their tokens once."""

import csv
import getpass
import os
import sys
from collections import OrderedDict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ota.errors import DomainError
from rollouts.api.serializers import VehicleInputSerializer
from rollouts.services.vehicles import vehicles_provision_bulk
from rollouts.vin import normalize_vin

COLUMNS = [
    "vin",
    "model",
    "region",
    "channel",
    "ecu_serial",
    "hardware_id",
    "primary",
    "keytype",
    "scheme",
    "public_key",
]
TRUE = {"1", "true", "yes", "y"}
FALSE = {"0", "false", "no", "n", ""}


class Command(BaseCommand):
    help = (
        "Provision vehicles from CSV: one row per ECU with columns "
        + ", ".join(COLUMNS)
        + ". Rows of one VIN form one vehicle. Nothing is saved unless every row is valid. "
        "Each new token is written once, to --tokens-out (mode 0600) or to standard output."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv_path", help="CSV file, or - for standard input")
        parser.add_argument("--tokens-out", help="write 'vin,token' lines here instead of stdout")

    def handle(self, *args, csv_path: str, tokens_out: str | None, **options):
        handle = sys.stdin if csv_path == "-" else _open(csv_path)
        with handle:
            vehicles, lines = read_vehicles(csv.DictReader(handle))

        specs, errors = [], []
        for vin, payload in vehicles.items():
            serializer = VehicleInputSerializer(data=payload)
            if serializer.is_valid():
                specs.append(VehicleInputSerializer.to_spec(serializer.validated_data))
            else:
                errors.append(f"lines {lines[vin]} ({vin or 'no VIN'}): {dict(serializer.errors)}")
        if errors:
            raise CommandError("Nothing was provisioned:\n" + "\n".join(errors))
        if not specs:
            raise CommandError("The file holds no vehicles.")

        chunk = settings.OTA_BULK_PROVISION_MAX
        try:
            with transaction.atomic():
                provisioned = []
                for start in range(0, len(specs), chunk):
                    provisioned += vehicles_provision_bulk(
                        specs=specs[start : start + chunk],
                        actor=None,
                        actor_label=f"cli:{getpass.getuser()}",
                    )
        except DomainError as exc:
            raise CommandError(f"Nothing was provisioned: {exc.message} {exc.detail}") from None

        rows = [(p.vehicle.vin, p.token) for p in provisioned]
        if tokens_out:
            write_tokens(Path(tokens_out), rows)
            self.stderr.write(f"Provisioned {len(rows)} vehicles; tokens written to {tokens_out}.")
        else:
            writer = csv.writer(self.stdout)
            writer.writerow(["vin", "token"])
            writer.writerows(rows)
            self.stderr.write(f"Provisioned {len(rows)} vehicles.")


def _open(path: str):
    try:
        return open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from None


def read_vehicles(reader: csv.DictReader) -> tuple[OrderedDict, dict[str, str]]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CommandError(f"The CSV header lacks: {', '.join(missing)}")
    vehicles: OrderedDict[str, dict] = OrderedDict()
    lines: dict[str, list[int]] = {}
    for row in reader:
        vin = normalize_vin(row["vin"] or "")
        line = reader.line_num
        primary = (row["primary"] or "").strip().lower()
        if primary not in TRUE | FALSE:
            raise CommandError(f"line {line}: primary must be true or false, got {primary!r}")
        vehicle = vehicles.setdefault(
            vin,
            {
                "vin": vin,
                "model": row["model"],
                "region": row["region"],
                **({"channel": row["channel"]} if row["channel"] else {}),
                "ecus": [],
            },
        )
        vehicle["ecus"].append(
            {
                "serial": row["ecu_serial"],
                "hardware_id": row["hardware_id"],
                "primary": primary in TRUE,
                "public_key": {
                    "keytype": row["keytype"],
                    "scheme": row["scheme"],
                    "keyval": {"public": row["public_key"]},
                },
            }
        )
        lines.setdefault(vin, []).append(line)
    return vehicles, {vin: ", ".join(map(str, nums)) for vin, nums in lines.items()}


def write_tokens(path: Path, rows: list[tuple[str, str]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["vin", "token"])
        writer.writerows(rows)
