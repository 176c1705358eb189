"""Seed the demo: an admin user, a fleet across US/EU/CN, published bundles, a vehicle to try."""

import io
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.services import user_token_create
from ota.demo import (
    DEMO_BUNDLES,
    DEMO_RELEASES,
    demo_bundle_bytes,
    demo_car_dir,
    demo_fleet,
    demo_token_save,
    demo_url_save,
)
from rollouts.models import Channel, Release, Vehicle
from rollouts.roles import APPROVER, RELEASE_ENGINEER
from rollouts.services import releases as release_services
from rollouts.services import rollouts as rollout_services
from rollouts.services.vehicles import vehicle_token_rotate, vehicles_provision_bulk
from signing.models import Bundle
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish

ADMIN_USERNAME = "admin"


def _every(n: int):
    """True for every n-th install asked about (never when n is 0)."""
    asked = iter(range(10**9))
    return lambda car: bool(n) and next(asked) % n == 0


class Command(BaseCommand):
    help = "Create the demo admin user and fleet (idempotent) and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument("--vehicles", type=int, default=3000)
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, vehicles: int, port: int, **options):
        password = self.ensure_admin()
        # A new token each run, beside the earlier ones: a token printed before keeps working.
        _, api_token = user_token_create(
            user=User.objects.get(username=ADMIN_USERNAME), name="printed by make run"
        )
        created = self.ensure_fleet(vehicles)
        published = self.ensure_bundles()
        self.ensure_releases()
        self.ensure_staged_rollouts(vehicles)
        self.ensure_cohorts(vehicles)
        showcase = next(demo_fleet(1))
        vehicle_token = vehicle_token_rotate(
            vehicle=Vehicle.objects.get(vin=showcase.vin),
            actor=None,
            reason="demo start: a fresh token to try",
        )
        base = f"http://127.0.0.1:{port}"
        demo_token_save(showcase.vin, vehicle_token)
        demo_url_save(base)
        self.stdout.write(
            f"""
Demo fleet: {Vehicle.objects.count()} vehicles ({created} new); {published} demo bundles published.

  Admin        {base}/admin/   user {ADMIN_USERNAME!r}, password {password!r}
  API docs     {base}/api/docs/
  Health       {base}/healthz

  Management API as the admin (an API token, new each run; earlier ones keep working):
    curl -H 'Authorization: Token {api_token}' '{base}/api/v1/manage/vehicles?region=EU'
  Vehicle API as {showcase.vin} (this token is new every start; demo_poll polls with it):
    curl -H 'Authorization: Bearer {vehicle_token}' {base}/api/v1/vehicles/{showcase.vin}
  One demo car through a real poll cycle (reference client: sign, verify, download, install):
    .venv/bin/python manage.py demo_poll
  Signed Image repository (TUF; any TUF 1.0 client, e.g. python-tuf's ngclient):
    curl {base}/api/v1/tuf/image/metadata/1.root.json
    curl {base}/api/v1/tuf/image/metadata/timestamp.json
"""
        )

    def ensure_admin(self) -> str:
        """The admin's password lives in var/ so every start prints the same one."""
        secret_file = Path(settings.VAR_DIR) / "demo-admin-password.txt"
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        if user is not None and secret_file.exists():
            return secret_file.read_text().strip()
        password = secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_superuser(ADMIN_USERNAME, password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
        return password

    def ensure_bundles(self) -> int:
        for hardware_id, path, version, counter in DEMO_BUNDLES:
            if Bundle.objects.filter(path=path).exists():
                continue
            spec = BundleSpec(
                path=path, hardware_id=hardware_id, version=version, release_counter=counter
            )
            bundle = bundle_ingest_file(
                spec=spec, stream=io.BytesIO(demo_bundle_bytes(path)), actor=None
            )
            bundle_publish(bundle=bundle, actor=None)
        return Bundle.objects.filter(path__in=[b[1] for b in DEMO_BUNDLES]).count()

    @transaction.atomic
    def ensure_releases(self) -> None:
        """Releases moved through the pipeline by two demo people (four eyes)."""
        engineer = self.demo_person("erin", RELEASE_ENGINEER)
        approver = self.demo_person("ada", APPROVER)
        bundles = {b.path: b for b in Bundle.objects.all()}
        for version, paths, completed, running in DEMO_RELEASES:
            if Release.objects.filter(version=version).exists():
                continue
            release = release_services.release_create(
                spec=release_services.ReleaseSpec(
                    version=version,
                    notes=f"Demo release {version}.",
                    bundle_ids=[bundles[path].pk for path in paths],
                ),
                actor=engineer,
            )
            release_services.release_approve(release=release, actor=approver)
            for channel in [*completed, *([running] if running else [])]:
                rollout = rollout_services.rollout_create(
                    release=release, channel=Channel.objects.get(name=channel), actor=engineer
                )
                rollout_services.rollout_approve(rollout=rollout, actor=approver)
                rollout = rollout_services.rollout_start(
                    rollout=rollout,
                    actor=approver,
                    override_reason="demo data: no vehicle telemetry exists yet",
                )
                while channel in completed and rollout.status == "running":
                    rollout = rollout_services.rollout_advance(rollout=rollout, actor=engineer)

    def ensure_staged_rollouts(self, count: int) -> None:
        """One healthy rollout that has advanced a stage, one bad one halted by the evaluator:
        the demo's own cars poll, install, fail and drive through the real vehicle API."""
        from datetime import timedelta

        from ota.demo import DEMO_STAGED, demo_sim_ecus
        from ota.simulation import Fleet, InProcessTransport
        from rollouts.services.evaluation import rollout_evaluate
        from rollouts.services.vehicles import vehicle_token_rotate
        from vehicle_client.client import VehicleClient

        engineer, approver = User.objects.get(username="erin"), User.objects.get(username="ada")
        fleet = list(demo_fleet(count))
        transport = InProcessTransport()
        for version, path, channel, plan, policy, fail_every in DEMO_STAGED:
            if Release.objects.filter(version=version).exists():
                continue
            release = release_services.release_create(
                spec=release_services.ReleaseSpec(
                    version=version,
                    notes=f"Demo staged release {version}.",
                    bundle_ids=[Bundle.objects.get(path=path).pk],
                ),
                actor=engineer,
            )
            release_services.release_approve(release=release, actor=approver)
            rollout = rollout_services.rollout_create(
                release=release,
                channel=Channel.objects.get(name=channel),
                actor=engineer,
                stages=plan,
                policy=policy,
            )
            rollout_services.rollout_approve(rollout=rollout, actor=approver)
            rollout_services.rollout_start(
                rollout=rollout,
                actor=approver,
                override_reason="demo data: no vehicle telemetry exists yet",
            )
            cars = []
            for demo in (d for d in fleet if d.channel == channel):
                vehicle = Vehicle.objects.get(vin=demo.vin)
                token = vehicle_token_rotate(
                    vehicle=vehicle, actor=None, reason="demo: simulated telemetry"
                )
                car = VehicleClient(
                    "http://localhost",
                    demo.vin,
                    token,
                    demo_sim_ecus(demo),
                    demo_car_dir(demo.vin),
                    transport=transport,
                )
                car.report_counter = max(vehicle.report_counter, 0)
                cars.append(car)
            simulation = Fleet(cars)
            self.stderr.write(f"  simulating {len(cars)} {channel} cars for {version}")
            simulation.poll(fails=_every(fail_every))
            simulation.drive(hours=3, crashes_per_hour=lambda car: 0.02)
            rollout.refresh_from_db()
            soaked = rollout.stage_started_at + timedelta(minutes=plan[0]["min_soak_minutes"] + 1)
            evaluation = rollout_evaluate(rollout_id=rollout.pk, now=soaked)
            self.stderr.write(f"  {version}: stage 0 evaluated: {evaluation.outcome}")
            if evaluation.outcome == "advance":
                simulation.poll()  # the next stage's vehicles take the update

    def ensure_cohorts(self, count: int) -> None:
        """Two cohorts to narrow a rollout with: staff cars by VIN, and a filter."""
        from ota.demo import DEMO_COHORT_STAFF_CARS
        from rollouts.models import Cohort
        from rollouts.services import cohorts as cohort_services

        engineer = User.objects.get(username="erin")
        if not Cohort.objects.filter(name="staff-cars").exists():
            staff = cohort_services.cohort_create(
                spec=cohort_services.CohortSpec(
                    name="staff-cars",
                    kind="static",
                    description="Employees' cars: the first to get a release on any channel.",
                ),
                actor=engineer,
            )
            vins = [v.vin for v in demo_fleet(count)][:DEMO_COHORT_STAFF_CARS]
            cohort_services.cohort_members_add(cohort=staff, vins=vins, actor=engineer)
        if not Cohort.objects.filter(name="eu-head-unit-7-2").exists():
            cohort_services.cohort_create(
                spec=cohort_services.CohortSpec(
                    name="eu-head-unit-7-2",
                    kind="filter",
                    description="EU cars whose head unit still runs 7.2.0.",
                    regions=("EU",),
                    installed=({"hardware_id": "hu-gen7", "versions": ["7.2.0"]},),
                ),
                actor=engineer,
            )

    @staticmethod
    def demo_person(username: str, group: str) -> User:
        from django.contrib.auth.models import Group

        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()  # an author in the demo's history, not a login
            user.save()
            user.groups.add(Group.objects.get(name=group))
        return user

    @transaction.atomic
    def ensure_fleet(self, count: int) -> int:
        fleet = list(demo_fleet(count))
        existing = set(
            Vehicle.objects.filter(vin__in=[v.vin for v in fleet]).values_list("vin", flat=True)
        )
        missing = [v.spec() for v in fleet if v.vin not in existing]
        step = settings.OTA_BULK_PROVISION_MAX
        for start in range(0, len(missing), step):
            vehicles_provision_bulk(
                specs=missing[start : start + step], actor=None, actor_label="demo"
            )
            self.stderr.write(f"  provisioned {min(start + step, len(missing))}/{len(missing)}")
        return len(missing)
