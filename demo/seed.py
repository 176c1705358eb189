"""Seeding the demo: each step idempotent, so `make run` can run it on every start.

The demo's history happens in the past: the staged rollouts are started, installed, driven and
evaluated on a simulation clock that ends before now, so nothing the server stored (events,
health windows, evaluations) is dated in the future, and the evaluator that runs once the
server is up finds the rollouts as the README describes them.
"""

import hashlib
import io
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from compliance.rxswin import Assessment
from compliance.selectors import vehicle_types
from compliance.services.approvals import market_approve, rxswin_register
from demo.fleet import (
    DEMO_BUNDLES,
    DEMO_COHORT_STAFF_CARS,
    DEMO_RELEASES,
    DEMO_STAGED,
    MARKETS,
    demo_bundle_bytes,
    demo_car_dir,
    demo_fleet,
    demo_sim_ecus,
)
from ota.inprocess import InProcessTransport
from rollouts.models import Channel, Cohort, Release, Vehicle
from rollouts.roles import APPROVER, HOMOLOGATION, RELEASE_ENGINEER
from rollouts.selectors import awaiting_type_approval, release_markets
from rollouts.services import cohorts as cohort_services
from rollouts.services import releases as release_services
from rollouts.services import rollouts as rollout_services
from rollouts.services.evaluation import rollout_evaluate
from rollouts.services.vehicles import vehicle_token_rotate, vehicles_provision_bulk
from signing.models import Bundle
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish
from vehicle_client.client import VehicleClient
from vehicle_client.simulation import Fleet, SimClock

ADMIN_USERNAME = "admin"
# How long ago the demo's staged rollouts started: their soak, driving and evaluation end
# an hour before the server starts.
HISTORY = timedelta(hours=4)
DRIVEN = timedelta(hours=3)
# The cars of a channel that drive its staged rollout: enough for the evaluator to decide,
# few enough for `make run` to serve within a minute (the rest have not polled yet).
SIMULATED_CARS = 120

Log = Callable[[str], None]


def ensure_admin() -> str:
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


@transaction.atomic
def ensure_fleet(count: int, log: Log) -> int:
    fleet = list(demo_fleet(count))
    existing = set(
        Vehicle.objects.filter(vin__in=[v.vin for v in fleet]).values_list("vin", flat=True)
    )
    missing = [v.spec() for v in fleet if v.vin not in existing]
    step = settings.OTA_BULK_PROVISION_MAX
    for start in range(0, len(missing), step):
        vehicles_provision_bulk(specs=missing[start : start + step], actor=None, actor_label="demo")
        log(f"  provisioned {min(start + step, len(missing))}/{len(missing)}")
    return len(missing)


def ensure_bundles() -> int:
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


def demo_person(username: str, group: str) -> User:
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()  # an author in the demo's history, not a login
        user.save()
        user.groups.add(Group.objects.get(name=group))
    return user


def demo_rxswin(model: str, market: str, number: int) -> str:
    return f"R156-{model[:3].upper()}-{market}-{number:04d}"


@transaction.atomic
def ensure_rxswin_register() -> None:
    """Each demo vehicle type's RXSWIN in each market it is sold in, as type-approved."""
    homologation = demo_person("hana", HOMOLOGATION)
    from compliance.models import RxswinEntry

    for market, (_, models) in MARKETS.items():
        for model in models:
            if not RxswinEntry.objects.filter(model=model, market=market).exists():
                rxswin_register(
                    model=model,
                    market=market,
                    value=demo_rxswin(model, market, 1),
                    actor=homologation,
                    note="Demo: granted with the vehicle type's approval.",
                )


def approve_markets(release: Release) -> None:
    """The demo's homologation engineer approves a release in each market that asks for it:
    head-unit software leaves type approval alone; anything on the ADAS computer changes it."""
    homologation = demo_person("hana", HOMOLOGATION)
    affects = release.items.filter(hardware_id__startswith="adas").exists()
    for market in awaiting_type_approval(release, release_markets(release)):
        market_approve(
            release=release,
            market=market,
            assessments=[
                Assessment(
                    model=model,
                    affects_type_approval=affects,
                    rationale="Demo: driver assistance changes."
                    if affects
                    else "Demo: no type-approved system changes.",
                    new_rxswin=demo_rxswin(model, market, release.pk + 1) if affects else "",
                )
                for model in sorted(vehicle_types(release=release, market=market))
            ],
            actor=homologation,
        )


@transaction.atomic
def ensure_releases() -> None:
    """Releases moved through the pipeline by two demo people (four eyes)."""
    engineer = demo_person("erin", RELEASE_ENGINEER)
    approver = demo_person("ada", APPROVER)
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
        approve_markets(release)
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


def _every(n: int) -> Callable[[object], bool]:
    """True for every n-th install asked about (never when n is 0)."""
    asked = iter(range(10**9))
    return lambda car: bool(n) and next(asked) % n == 0


def _cars(count: int, channel: str, transport: InProcessTransport) -> list[VehicleClient]:
    cars = []
    on_channel = [d for d in demo_fleet(count) if d.channel == channel]
    for demo in on_channel[:SIMULATED_CARS]:
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
    return cars


def ensure_staged_rollouts(count: int, log: Log) -> None:
    """One healthy rollout that has advanced a stage, one bad one halted by the evaluator:
    the demo's own cars poll, install, fail and drive through the real vehicle API, on a
    clock that starts HISTORY ago and stops an hour before now."""
    engineer, approver = User.objects.get(username="erin"), User.objects.get(username="ada")
    transport = InProcessTransport()
    for version, path, channel, plan, policy, fail_every in DEMO_STAGED:
        if Release.objects.filter(version=version).exists():
            continue
        clock = SimClock()
        clock.advance(-HISTORY)
        cars = _cars(count, channel, transport)
        simulation = Fleet(cars, clock=clock)
        with transport.following(clock):
            if fail_every:
                # First the channel's cars take what already runs there, without trouble:
                # this rollout's failures are its own, not its neighbours'.
                simulation.poll()
            release = release_services.release_create(
                spec=release_services.ReleaseSpec(
                    version=version,
                    notes=f"Demo staged release {version}.",
                    bundle_ids=[Bundle.objects.get(path=path).pk],
                ),
                actor=engineer,
            )
            release_services.release_approve(release=release, actor=approver)
            approve_markets(release)
            rollout = rollout_services.rollout_create(
                release=release,
                channel=Channel.objects.get(name=channel),
                actor=engineer,
                stages=plan,
                policy=policy,
            )
            # The same cars in each stage on every run: the demo tells the same story (a
            # random salt let the control group's crashes halt the healthy rollout, rarely).
            rollout.salt = hashlib.sha256(f"demo:{version}:{channel}".encode()).hexdigest()[:32]
            rollout.save(update_fields=["salt"])
            rollout_services.rollout_approve(rollout=rollout, actor=approver)
            rollout_services.rollout_start(
                rollout=rollout,
                actor=approver,
                override_reason="demo data: no vehicle telemetry exists yet",
            )
            log(f"  simulating {len(cars)} {channel} cars for {version}")
            simulation.poll(fails=_every(fail_every))
            simulation.drive(hours=DRIVEN.total_seconds() / 3600, crashes_per_hour=lambda car: 0.02)
            evaluation = rollout_evaluate(rollout_id=rollout.pk)
            log(f"  {version}: stage 1 evaluated: {evaluation.outcome}")
            if evaluation.outcome == "advance":
                simulation.poll()  # the next stage's vehicles take the update


def ensure_cohorts(count: int) -> None:
    """Two cohorts to narrow a rollout with: staff cars by VIN, and a filter."""
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
