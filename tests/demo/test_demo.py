import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from demo.fleet import DEMO_BUNDLES, demo_fleet
from ota.inprocess import InProcessTransport
from rollouts import selectors
from rollouts.models import Cohort, Ecu, Evaluation, HealthWindow, InstallEvent, Rollout, Vehicle
from rollouts.services import counters
from rollouts.services.evaluation import evaluate_running
from rollouts.vin import check_digit, is_valid_vin
from signing.models import Bundle
from tests.conftest import vehicle_api
from vehicle_client.simulation import SimClock


def test_the_demo_fleet_is_deterministic_and_valid():
    first, second = list(demo_fleet(60)), list(demo_fleet(60))
    assert [v.vin for v in first] == [v.vin for v in second]
    assert len({v.vin for v in first}) == 60
    assert all(is_valid_vin(v.vin) and v.vin[8] == check_digit(v.vin) for v in first)
    assert {v.region for v in first} == {"US", "EU", "CN"}
    assert all(sum(e.primary for e in v.ecus) == 1 for v in first)


@pytest.mark.django_db
def test_seeding_twice_creates_the_fleet_once_and_prints_working_credentials(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("ota_init", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", vehicles=30, stdout=out, stderr=StringIO())
    call_command("seed_demo", vehicles=30, stdout=out, stderr=StringIO())
    assert Vehicle.objects.count() == 30
    assert Bundle.objects.filter(status="published").count() == len(DEMO_BUNDLES)
    pipeline = {(r.release.version, r.channel.name, r.status) for r in Rollout.objects.all()}
    assert ("2026.10", "stable", "completed") in pipeline
    assert ("2026.11", "forever-beta", "running") in pipeline
    assert ("2026.12", "dev", "running") in pipeline
    assert Vehicle.objects.filter(channel__name="forever-beta").exists()
    cohorts = {c.name: selectors.cohort_vehicles(cohort=c).count() for c in Cohort.objects.all()}
    assert cohorts["staff-cars"] == 30  # the first 40 demo cars; this fleet has 30
    on_old_head_unit = Ecu.objects.filter(
        vehicle__region="EU", hardware_id="hu-gen7", installed_bundle__version="7.2.0"
    )
    assert cohorts["eu-head-unit-7-2"] == on_old_head_unit.count()

    hardware = {ecu.hardware_id for vehicle in demo_fleet(30) for ecu in vehicle.ecus}
    assert hardware == {hardware_id for hardware_id, *_ in DEMO_BUNDLES}

    text = out.getvalue()
    password = text.split("password '")[1].split("'")[0]
    assert password == (tmp_path / "demo-admin-password.txt").read_text().strip()
    from django.contrib.auth import authenticate

    assert authenticate(username="admin", password=password) is not None


def healthz_when_up(base: str, *, tries: int = 100) -> bytes | None:
    """/healthz's body once the server answers (None if it never does)."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:  # noqa: S310
                return answer.read()
        except OSError:
            time.sleep(0.2)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_runs_the_web_server_with_a_task_cluster_and_stops_both(tmp_path):
    """`make run`'s last step, as a real process on a throwaway database."""
    env = {**os.environ, "OTA_VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert healthz_when_up(f"http://127.0.0.1:{port}") == b'{"status": "ok"}'
        children = subprocess.run(
            ["pgrep", "-f", "-P", str(server.pid), "manage.py qcluster"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert len(children) == 2, "two django-q2 clusters run beside the web server"
        queues = sorted(
            "Q_CLUSTER_NAME=long"
            in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            for pid in children
        )
        assert queues == [False, True]  # the default queue and the long one (delta builds)
    finally:
        server.terminate()  # SIGTERM to the serve process alone: it must stop its clusters
        output = server.communicate(timeout=30)[0].decode()
    assert "django-q2 cluster default started" in output
    assert "django-q2 cluster long started" in output
    assert "Stopped." in output
    # The cluster's own session: its sentinel, workers, pusher and monitor stopped with it.
    assert not [c for c in children if group_alive(int(c))]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_demo_poll_drives_a_demo_car_through_an_update(live_server, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("ota_init", stdout=StringIO())
    port = int(live_server.url.rsplit(":", 1)[1])
    printed = StringIO()
    call_command("seed_demo", vehicles=3, port=port, stdout=printed, stderr=StringIO())
    token = re.search(r"Bearer (vt_\S+)'", printed.getvalue())[1]

    first, second = StringIO(), StringIO()
    call_command("demo_poll", stdout=first)  # finds the server seed_demo printed
    call_command("demo_poll", stdout=second)
    showcase = next(demo_fleet(1)).vin
    # The token `make run` printed still works after demo_poll.
    assert vehicle_api(token).get(f"/api/v1/vehicles/{showcase}").status_code == 200

    assert "offered tcu-gen3/tcu-3.4.1.bin" in first.getvalue()
    assert "TCU-000000" in first.getvalue().split("installed on:")[1]
    assert "offered" not in second.getvalue()
    car = Vehicle.objects.get(vin=next(demo_fleet(1)).vin)
    assert {e.installed_bundle.version for e in car.ecus.all()} >= {"3.4.1", "7.2.0", "2.0.5"}


def _readme_block(starting: str, ending: str) -> str:
    """Lines of README.md from the one starting with `starting` through the one with `ending`."""
    lines = (Path(settings.BASE_DIR) / "README.md").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(starting))
    last = next(i for i in range(first, len(lines)) if ending in lines[i])
    return "\n".join(lines[first : last + 1])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_readmes_upload_example_works_on_the_demo_as_written(live_server, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("ota_init", stdout=StringIO())
    printed = StringIO()
    call_command("seed_demo", vehicles=3, stdout=printed, stderr=StringIO())
    token = re.search(r"Authorization: Token (\S+)'", printed.getvalue())[1]
    script = _readme_block("# Upload a bundle", "/publish")
    script = script.replace("http://127.0.0.1:8000", live_server.url)
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert '"targets_version"' in ran.stdout
    assert Bundle.objects.get(path="hu-gen7/hu-7.5.0.bin").status == "published"


@pytest.mark.django_db
@pytest.mark.slow
@pytest.mark.long
def test_the_demo_keeps_what_the_readme_says_through_an_hour_of_evaluations(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("ota_init", stdout=StringIO())
    call_command("seed_demo", vehicles=1200, stdout=StringIO(), stderr=StringIO())
    seeded = timezone.now()
    # The demo's history is in the past: nothing it stored is dated after it finished.
    assert not Evaluation.objects.filter(at__gt=seeded).exists()
    assert not InstallEvent.objects.filter(at__gt=seeded).exists()
    assert not HealthWindow.objects.filter(end__gt=seeded).exists()
    assert Rollout.objects.filter(stage_started_at__lte=seeded).count() == Rollout.objects.count()

    # The server evaluates every running rollout each minute (its schedule); an hour of it.
    clock, server = SimClock(), InProcessTransport()
    with server.following(clock):
        for _ in range(60):
            clock.advance(timedelta(minutes=1))
            evaluate_running()

    # What README.md says of the demo's rollouts.
    state = {
        (r.release.version, r.channel.name): r
        for r in Rollout.objects.select_related("release", "channel")
    }
    assert all(
        state[("2026.10", channel)].status == "completed"
        for channel in ("dev", "forever-beta", "beta", "stable")
    )
    assert state[("2026.11", "forever-beta")].status == "running"
    assert state[("2026.12", "dev")].status == "running"
    # The telematics build's failures are its own: 2026.12, on the same cars, has none (with
    # the 3,000 cars of `make run` they would halt it within the hour).
    assert counters.totals(rollout=state[("2026.12", "dev")])["failed"] == 0
    healthy = state[("2026.13-battery", "beta")]
    assert (healthy.status, healthy.stage_index) == ("running", 1), healthy.halt_description
    assert healthy.halts == 0
    assert healthy.evaluations.filter(outcome="advance").exists()
    bad = state[("2026.13-telematics", "dev")]
    assert bad.status == "halted"
    assert bad.halt_reason["metric"] == "install_failure_rate"
    assert bad.halt_reason["bound"] > bad.halt_reason["threshold"]
    assert AuditEvent.objects.filter(action="rollout.halted").count() == 1  # only that one
    cohorts = {c.name: c for c in Cohort.objects.all()}
    assert cohorts["staff-cars"].kind == "static"
    assert selectors.cohort_vehicles(cohort=cohorts["eu-head-unit-7-2"]).exists()
