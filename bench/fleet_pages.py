"""The release engineer's pages at fleet size (issue 25): every admin list and page that a
million cars made slow, the markets API, the dashboard cold and warm and a filter cohort's
size, each timed at 10⁴ cars and at `--cars` (10⁶ by `make bench-fleet`) in one run, with the
statements it takes.

Each size gets its own new database on the server BENCH_DATABASE_URL names, loaded by
bench/fleet.py's `Fleet` (cars, ECUs, tokens, assignments, install events, health windows) and
here with the evidence records an offer and an outcome leave and an audit trail, then
vacuumed and analysed. A page is requested in this process through Django's test client, as
a superuser for the admin and as the release engineer for the API: the median of `--repeat`
requests after one that warms it (the dashboard's cold figure clears the cache before each).
Printed: seconds at each size, their ratio (target ≤ 2), statements at each size (target
≤ 15, and no more at the large size), and the dashboard cold at the large size (target
≤ 0.3 s).
Targets are printed as met or not, never failed.

    .venv/bin/python -m bench.fleet_pages [--cars 100000] [--small 10000] [--repeat 3]

PostgreSQL only; the databases are dropped at the end.
"""

import argparse
import json
import statistics
import time
from datetime import timedelta

SMALL = 10_000
RATIO_TARGET, STATEMENTS_TARGET, COLD_TARGET = 2.0, 15, 0.3


def pages(release_id: int, cars: int) -> list[tuple[str, str, str]]:
    """(name, who asks, path): "admin" or "api"."""
    deep = max(1, cars // 100 // 2)  # the middle page of the vehicle list, 100 to a page
    return [
        ("dashboard, cold", "admin", "/admin/"),
        ("dashboard, warm", "admin", "/admin/"),
        ("vehicles", "admin", "/admin/rollouts/vehicle/"),
        ("vehicles in EU", "admin", "/admin/rollouts/vehicle/?region=EU"),
        ("vehicles, middle page", "admin", f"/admin/rollouts/vehicle/?p={deep}"),
        ("vehicles by VIN prefix", "admin", "/admin/rollouts/vehicle/?q=WNXFLEET0R00012"),
        ("assignments", "admin", "/admin/rollouts/assignment/"),
        ("evidence", "admin", "/admin/compliance/evidencerecord/"),
        ("install events", "admin", "/admin/rollouts/installevent/"),
        ("health windows", "admin", "/admin/rollouts/healthwindow/"),
        ("audit", "admin", "/admin/audit/auditevent/"),
        ("markets page", "admin", "/admin/markets/"),
        ("markets API", "api", "/api/v1/manage/markets"),
        ("a release's markets API", "api", f"/api/v1/manage/releases/{release_id}/markets"),
        ("vehicles API in EU", "api", "/api/v1/manage/vehicles?region=EU"),
        ("filter cohort's size", "api", "/api/v1/manage/cohorts/bench-head-units"),
    ]


def load(cars: int):
    """The fleet of `cars` in the current database, with evidence and an audit trail."""
    from audit.models import AuditEvent
    from bench.fleet import Fleet, copy_rows, vacuum_analyze
    from compliance.models import EvidenceRecord
    from rollouts.models import Cohort

    fleet = Fleet(cars)
    fleet.prepare()
    fleet.load()
    now = fleet.now

    def evidence():
        regions = ("US", "EU", "CN")
        for n, vin in enumerate(fleet.vins):
            if fleet.history_assigned(n):
                for kind, days in (("offered", 36), ("installed", 34)):
                    yield (
                        vin,
                        "Aurora",
                        regions[n % 3],
                        fleet.history_release.pk,
                        fleet.history.pk,
                        kind,
                        now - timedelta(days=days),
                    )

    fleet.rows["evidence records"] = copy_rows(
        EvidenceRecord,
        ["vin", "model", "market", "release", "rollout_id", "kind", "at"],
        evidence(),
        now=now,
    )

    def audit():
        for n in range(0, cars, 10):  # an engineer's action for one car in ten
            yield ("bench-engineer", "vehicle.move", "rollouts.vehicle", str(n), fleet.vins[n])

    fleet.rows["audit events"] = copy_rows(
        AuditEvent,
        ["actor_label", "action", "target_type", "target_id", "target_repr"],
        audit(),
        now=now,
    )
    Cohort.objects.create(
        name="bench-head-units",
        kind="filter",
        hardware_ids=["hu-gen7"],
        created_by=fleet.engineer,
    )
    vacuum_analyze([EvidenceRecord, AuditEvent])
    return fleet


def measure(fleet, repeat: int) -> dict[str, dict]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    admin = Client(HTTP_HOST="127.0.0.1")
    admin.force_login(User.objects.create_superuser("bench-admin", password=None))
    api = APIClient(HTTP_HOST="127.0.0.1")
    api.force_authenticate(fleet.engineer)
    clients = {"admin": admin, "api": api}
    found = {}
    for name, who, path in pages(fleet.rollout.release_id, fleet.cars):
        client, cold = clients[who], name.endswith("cold")
        get(client, path, cold)  # warms this process for the page
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            get(client, path, cold)
            samples.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as queries:
            get(client, path, cold)
        found[name] = {"seconds": statistics.median(samples), "statements": len(queries)}
    return found


def get(client, path: str, cold: bool) -> None:
    from django.core.cache import cache

    if cold:
        cache.clear()
    answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cars", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=SMALL, help="the size compared with")
    parser.add_argument("--repeat", type=int, default=3, help="timed requests per page")
    args = parser.parse_args(argv)
    from bench._django import django_up, postgres_server_url, use_new_database

    if postgres_server_url() is None:
        raise SystemExit(
            "bench.fleet_pages runs on PostgreSQL: set BENCH_DATABASE_URL=postgres://…"
        )
    if args.cars <= args.small:
        raise SystemExit(f"--cars must be more than --small ({args.small:,})")
    began = time.perf_counter()
    django_up()
    sizes, rows = {}, {}
    for cars in (args.small, args.cars):
        if cars != args.small:
            use_new_database()
        fleet = load(cars)
        rows[cars] = dict(fleet.rows)
        sizes[cars] = measure(fleet, args.repeat)
    result = {
        "database": "postgresql",
        "sizes": [args.small, args.cars],
        "rows": rows[args.cars],
        "pages": {
            name: {
                "small": sizes[args.small][name],
                "large": sizes[args.cars][name],
                "ratio": sizes[args.cars][name]["seconds"] / sizes[args.small][name]["seconds"],
            }
            for name in sizes[args.small]
        },
        "seconds": time.perf_counter() - began,
    }
    report(result)
    return result


def report(r: dict) -> None:
    small, large = r["sizes"]
    rows = ", ".join(f"{n:,} {name}" for name, n in r["rows"].items())
    print(f"Pages at fleet size (postgresql): {small:,} and {large:,} cars ({rows} at {large:,})")
    print(
        f"  {'page':<26}{'s at ' + format(small, ','):>14}{'s at ' + format(large, ','):>16}"
        f"{'ratio':>8}  {'statements':>12}  targets"
    )
    for name, p in r["pages"].items():
        statements = (p["small"]["statements"], p["large"]["statements"])
        # Flat: no more at the large size (a big list asks the planner instead of counting).
        flat = statements[1] <= statements[0] and max(statements) <= STATEMENTS_TARGET
        verdicts = [
            f"ratio ≤ {RATIO_TARGET:g} {'met' if p['ratio'] <= RATIO_TARGET else 'NOT met'}",
            f"statements {'met' if flat else 'NOT met'}",
        ]
        if name == "dashboard, cold":
            cold = p["large"]["seconds"] <= COLD_TARGET
            verdicts.append(f"≤ {COLD_TARGET:g} s {'met' if cold else 'NOT met'}")
        print(
            f"  {name:<26}{p['small']['seconds']:>14.3f}{p['large']['seconds']:>16.3f}"
            f"{p['ratio']:>8.1f}  {statements[0]:>5} / {statements[1]:<5}  {', '.join(verdicts)}"
        )
    print(f"  {r['seconds']:.0f} s in all")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
