import csv
import io
import stat

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from rollouts.models import Ecu, Vehicle
from tests.conftest import vehicle_api
from tests.factories import EcuKey, make_vin, p256_public_key

pytestmark = pytest.mark.django_db

HEADER = "vin,model,region,channel,ecu_serial,hardware_id,primary,keytype,scheme,public_key"


def ecu_row(vin: str, serial: str, primary: bool, *, region="US", channel="", key=None) -> list:
    key = key or EcuKey.generate().tuf_public
    return [
        vin,
        "Aurora",
        region,
        channel,
        serial,
        "hu-gen7",
        str(primary).lower(),
        key["keytype"],
        key["scheme"],
        key["keyval"]["public"],
    ]


def write_csv(tmp_path, rows) -> str:
    path = tmp_path / "fleet.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.split(","))
        writer.writerows(rows)
    return str(path)


def test_a_csv_provisions_vehicles_and_writes_tokens_once(tmp_path):
    vin_a, vin_b = make_vin(), make_vin()
    rows = [
        ecu_row(vin_a, "TCU1", True),
        ecu_row(vin_a, "HU1", False, key=p256_public_key()),  # a multi-line PEM in a CSV cell
        ecu_row(vin_b, "TCU2", True, channel="forever-beta"),
    ]
    tokens_path = tmp_path / "tokens.csv"
    call_command("provision_vehicles", write_csv(tmp_path, rows), tokens_out=str(tokens_path))

    assert Ecu.objects.filter(vehicle__vin=vin_a).count() == 2
    assert Vehicle.objects.get(vin=vin_b).channel.name == "forever-beta"
    assert stat.S_IMODE(tokens_path.stat().st_mode) == 0o600
    tokens = dict(list(csv.reader(tokens_path.open()))[1:])
    assert vehicle_api(tokens[vin_a]).get(f"/api/v1/vehicles/{vin_a}").status_code == 200
    assert AuditEvent.objects.filter(action="vehicle.provisioned").count() == 2
    assert AuditEvent.objects.first().actor_label.startswith("cli:")


def test_tokens_go_to_standard_output_without_a_file(tmp_path):
    vin = make_vin()
    out = io.StringIO()
    call_command("provision_vehicles", write_csv(tmp_path, [ecu_row(vin, "T", True)]), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "vin,token"
    assert lines[1].startswith(f"{vin},vt_")


def test_one_bad_row_provisions_nothing_and_names_its_lines(tmp_path, fleet_unchanged):
    good, bad = make_vin(), "NOT-A-VIN"
    rows = [ecu_row(good, "T1", True), ecu_row(bad, "T2", True)]
    with fleet_unchanged(), pytest.raises(CommandError, match=r"lines 3 .*NOT-A-VIN"):
        call_command("provision_vehicles", write_csv(tmp_path, rows))


def test_an_existing_vin_provisions_nothing(tmp_path, provision, fleet_unchanged):
    existing, _ = provision()
    rows = [ecu_row(make_vin(), "T1", True), ecu_row(existing["vin"], "T2", True, region="EU")]
    with fleet_unchanged(), pytest.raises(CommandError, match="already provisioned"):
        call_command("provision_vehicles", write_csv(tmp_path, rows))


def test_a_file_without_the_columns_is_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("vin,model\n1HGCM82633A004352,Aurora\n")
    with pytest.raises(CommandError, match="header lacks"):
        call_command("provision_vehicles", str(path))
