"""Does an idle poll cost more when the fleet has more history? It should not (product brief §9).

The idle manifest PUT of bench.poll (same server, same wrk load, same demo cars), measured with
10³ and then with 10⁶ assignments stored: rows of completed rollouts of other releases, for
other vehicles (never the polling cars' own), inserted in bulk between the two measurements.
Prints, at each size, how long one idle PUT takes alone (nothing else running), /healthz and
idle-PUT req/s under load (medians of interleaved rounds), the server's CPU per PUT, and the
ratio of the time per poll at the large size to that at the small one (target ≤ 1.2): from the
req/s under load, or, when a poll alone takes longer than a whole run (wrk would count nothing
and the server would be left minutes of abandoned polls), from the polls alone. The /healthz
column shows how much the machine itself drifted between the two sizes.

A module of its own rather than a flag of bench.poll: it needs a minute of inserting and a
second measurement on the grown database, and answers another question (does the cost grow?)
than bench.poll (what does a poll cost?), as bench.evaluation does for telemetry.

    .venv/bin/python -m bench.poll_history [--small 1000] [--large 1000000] [--rollouts 10]
        [--vehicles 200] [--seconds 3] [--rounds 3] [--connections 16] [--workers 2]
"""

import io
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.poll import parser

LABELS = {"healthz": "GET /healthz", "put": "PUT manifest (idle)"}
HISTORY_HARDWARE = "history-hw"  # no polling car has it: history never changes their decision
TARGET = 1.2


class History:
    """Completed rollouts of old releases on the stable channel, and assignments in them for
    vehicles that are not the benchmark's. The rollouts are there at both sizes; only the
    assignments (and the vehicles they need) grow."""

    def __init__(self, rollouts: int):
        self.rollout_count = rollouts
        self.vehicles = 0  # history vehicles inserted so far

    def create_rollouts(self) -> None:
        from bench._django import people
        from rollouts.models import Channel, Release, ReleaseBundle, Rollout
        from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish

        engineer, approver = people()
        spec = BundleSpec(
            path=f"{HISTORY_HARDWARE}/old.bin",
            hardware_id=HISTORY_HARDWARE,
            version="1.0",
            release_counter=1,
        )
        bundle = bundle_ingest_file(spec=spec, stream=io.BytesIO(os.urandom(1024)), actor=None)
        bundle, _ = bundle_publish(bundle=bundle, actor=None)
        now = datetime.now(UTC)
        releases = Release.objects.bulk_create(
            Release(
                version=f"history-{n}",
                status="approved",
                created_by=engineer,
                approved_by=approver,
                approved_at=now,
            )
            for n in range(self.rollout_count)
        )
        ReleaseBundle.objects.bulk_create(
            ReleaseBundle(release=release, bundle=bundle, hardware_id=HISTORY_HARDWARE)
            for release in releases
        )
        stable = Channel.objects.get(name="stable")
        self.rollouts = Rollout.objects.bulk_create(
            Rollout(
                release=release,
                channel=stable,
                status="completed",
                created_by=engineer,
                approved_by=approver,
                started_at=now - timedelta(days=30),
                finished_at=now - timedelta(days=20),
                stage_started_at=now - timedelta(days=21),
                stages=[
                    {
                        "percent": 100,
                        "min_soak_minutes": 0,
                        "gate": "auto",
                        "max_duration_minutes": 60,
                    }
                ],
                policy={},
            )
            for release in releases
        )

    def grow_to(self, assignments: int) -> tuple[int, float]:
        """Insert vehicles and their assignments in every history rollout until `assignments`
        are stored; the rows added and the seconds it took."""
        from django.db import connection, transaction

        from rollouts.models import Assignment, Channel, Vehicle

        start = time.perf_counter()
        wanted = assignments // self.rollout_count
        stable = Channel.objects.get(name="stable")
        with transaction.atomic():
            Vehicle.objects.bulk_create(
                (
                    Vehicle(vin=f"HST{n:014d}", model="Aurora", region="EU", channel=stable)
                    for n in range(self.vehicles, wanted)
                ),
                batch_size=5000,
            )
            first = Vehicle.objects.get(vin=f"HST{self.vehicles:014d}").pk
            last = Vehicle.objects.get(vin=f"HST{wanted - 1:014d}").pk
            table = Assignment._meta.db_table
            column = {f.name: f.column for f in Assignment._meta.concrete_fields}
            new_uuid = (
                "gen_random_uuid()"
                if connection.vendor == "postgresql"
                else "lower(hex(randomblob(16)))"  # Django keeps a UUID as 32 hex digits here
            )
            when = connection.ops.adapt_datetimefield_value(datetime.now(UTC) - timedelta(days=25))
            rollout_ids = ", ".join(str(rollout.pk) for rollout in self.rollouts)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    INSERT INTO {table} ({column["id"]}, {column["rollout"]}, {column["vehicle"]},
                        {column["status"]}, {column["stage_index"]}, {column["started_at"]},
                        {column["created_at"]}, {column["updated_at"]}, {column["finished_at"]})
                    SELECT {new_uuid}, r.id, v.id,
                        CASE WHEN (v.id + r.id) %% 50 = 0 THEN 'failed' ELSE 'succeeded' END,
                        0, %s, %s, %s, %s
                    FROM {Vehicle._meta.db_table} v CROSS JOIN {self.rollouts[0]._meta.db_table} r
                    WHERE v.id BETWEEN %s AND %s AND r.id IN ({rollout_ids})
                    """,  # noqa: S608  (table and column names from the models, ids are ints)
                    [when, when, when, when, first, last],
                )
                added = cursor.rowcount
        if connection.vendor == "postgresql":
            # What autovacuum does soon after a bulk insert: the planner sees the new sizes.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {table}, {Vehicle._meta.db_table}")
        self.vehicles = wanted
        return added, time.perf_counter() - start


def alone(cars: list, base: str, longest: float) -> float:
    """Seconds one idle PUT takes with nothing else running: the median of three cars', or
    the first that takes longer than `longest` (then the server is not loaded at all)."""
    import json

    import urllib3

    http = urllib3.PoolManager()
    took = []
    for car in cars[:3]:
        headers = {"Authorization": f"Bearer {car.token}", "Content-Type": "application/json"}
        body = json.dumps(car.manifest())
        start = time.perf_counter()
        answer = http.request(
            "PUT",
            f"{base}/api/v1/vehicles/{car.vin}/manifest",
            body=body,
            headers=headers,
            timeout=600,
        )
        took.append(time.perf_counter() - start)
        if answer.status != 200:
            raise SystemExit(f"an idle PUT alone was answered {answer.status}")
        if took[-1] > longest:
            break
    return statistics.median(took)


def main(argv=None) -> dict:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--small", type=int, default=1_000, help="assignments stored first")
    arguments.add_argument("--large", type=int, default=1_000_000, help="then grown to")
    arguments.add_argument("--rollouts", type=int, default=10, help="completed history rollouts")
    arguments.set_defaults(rounds=3)
    args = arguments.parse_args(argv)
    if not args.rollouts <= args.small < args.large:
        arguments.error("need --rollouts <= --small < --large")
    from bench import _load

    _load.require_wrk()
    if problem := _load.check_spread(args.vehicles, args.connections):
        raise SystemExit(problem)

    history = History(args.rollouts)

    def prepare() -> None:
        history.create_rollouts()
        history.grow_to(args.small)

    sizes, inserted = {}, None
    with _load.Bench(args, prepare=prepare) as bench:
        kinds = {
            "healthz": bench.cycling("healthz", lambda car: _load.line("GET", "/healthz")),
            "put": bench.manifests.run,
        }
        for size in (args.small, args.large):
            if size == args.large:
                inserted = history.grow_to(args.large)
                bench.release_connections()
            one = alone(bench.cars, bench.server.base, longest=args.seconds)
            # A poll slower alone than a whole run would leave wrk nothing to count, and the
            # server minutes of abandoned polls to finish: such a size is measured alone only.
            loaded = None
            if one <= args.seconds:
                runs = _load.interleaved(kinds, rounds=args.rounds, seconds=args.seconds)
                loaded = _load.summarize(runs)
            sizes[size] = (one, loaded)
        vendor = bench.vendor

    print(
        f"Idle poll against stored history ({vendor}): gunicorn, {args.workers} sync workers; "
        f"wrk -t {_load.THREADS} -c {args.connections}; {args.rounds} rounds of {args.seconds} s "
        f"per size; {args.vehicles} demo cars; {args.rollouts} completed history rollouts"
    )
    on_postgres = vendor == "postgresql"
    db_head = f"{'DB CPU ms/PUT':>15}" if on_postgres else ""
    print(
        f"  {'assignments':>12}{'one PUT alone ms':>18}{'/healthz req/s':>16}"
        f"{'idle PUT req/s':>16}{'vs /healthz':>13}{'app CPU ms/PUT':>16}{db_head}{'non-200':>9}"
    )
    result = {"database": vendor}
    for size, (one, loaded) in sizes.items():
        row = {"assignments": size, "alone_ms": one * 1000}
        if loaded is None:
            width = 16 + 16 + 13 + 16 + (15 if on_postgres else 0) + 9
            shown = f"{'not loaded: slower alone than a run':>{width}}"
        else:
            put, healthz = loaded["put"], loaded["healthz"]
            db = f"{put.db_ms:>15.2f}" if on_postgres else ""
            shown = (
                f"{healthz.rate:>16.1f}{put.rate:>16.1f}{put.ratio:>13.3f}"
                f"{put.app_ms:>16.2f}{db}{put.non_200 + healthz.non_200:>9}"
            )
            row |= {
                "healthz_rate": healthz.rate,
                "put_rate": put.rate,
                "put_ratio": put.ratio,
                "app_cpu_ms": put.app_ms,
                "db_cpu_ms": put.db_ms,
                "non_200": put.non_200 + healthz.non_200,
            }
        print(f"  {size:>12,}{one * 1000:>18.1f}{shown}")
        result["small" if size == args.small else "large"] = row
    small, large = result["small"], result["large"]
    if "put_rate" in small and "put_rate" in large and large["put_rate"]:
        # Time per poll under load, large over small.
        result["ratio"] = small["put_rate"] / large["put_rate"]
        result["cpu_ratio"] = large["app_cpu_ms"] / small["app_cpu_ms"]
        how = f"under load; app CPU per poll: {result['cpu_ratio']:.2f}"
    else:
        result["ratio"] = large["alone_ms"] / small["alone_ms"]
        how = "one poll alone (too slow to load at the large size)"
    added, seconds = inserted
    print(f"  inserted {added:,} assignments (and their vehicles) in {seconds:.0f} s")
    met = "met" if result["ratio"] <= TARGET else "not met"
    print(
        f"  ratio time per poll at {args.large:,} / at {args.small:,}: {result['ratio']:.2f} "
        f"(target ≤ {TARGET}: {met}), {how}"
    )
    loaded_sizes = [loaded for _one, loaded in sizes.values() if loaded is not None]
    for summaries in loaded_sizes:
        for line in _load.failures(summaries, LABELS):
            print(line)
    for summaries in loaded_sizes:
        _load.fail_on_refusals(summaries, LABELS)
    return result


if __name__ == "__main__":
    main()
