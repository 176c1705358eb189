"""Does an evaluation cost more when a rollout has more telemetry? It should not: the evaluator
reads per-stage counters, never the events (product brief §7).

Prints the median time of one evaluation with few and with many events stored, their ratio
(about 1 is the target), and one evaluation against a trivial baseline (one primary-key
read of the rollout) on the same machine and database.

    .venv/bin/python -m bench.evaluation [--small 10000] [--large 1000000]
"""

import argparse
import uuid
from datetime import UTC, datetime, timedelta


def add_events(rollout, vehicles, assignments, count: int) -> None:
    from rollouts.models import HealthWindow, InstallEvent

    now = datetime.now(UTC)
    batch_events, batch_windows = [], []
    for n in range(count):
        i = n % len(vehicles)
        if n % 2:
            batch_events.append(
                InstallEvent(
                    id=uuid.uuid4(),
                    vehicle=vehicles[i],
                    assignment=assignments[i],
                    correlation_id=str(assignments[i].pk),
                    ecu_serial="H",
                    type="download_started",
                    at=now,
                )
            )
        else:
            start = now - timedelta(hours=1 + n)
            batch_windows.append(
                HealthWindow(
                    id=uuid.uuid4(),
                    vehicle=vehicles[i],
                    start=start,
                    end=start + timedelta(hours=1),
                    driving_seconds=3600,
                    ignition_cycles=1,
                    crashes=0,
                    reboots=0,
                )
            )
        if len(batch_events) + len(batch_windows) >= 5000:
            InstallEvent.objects.bulk_create(batch_events)
            HealthWindow.objects.bulk_create(batch_windows)
            batch_events, batch_windows = [], []
    InstallEvent.objects.bulk_create(batch_events)
    HealthWindow.objects.bulk_create(batch_windows)
    # What telemetry would have added to the counters as it arrived.
    from rollouts.services.counters import count as add

    add(rollout_id=rollout.pk, stage_index=0, control_seconds=3600 * (count // 2))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--vehicles", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    from bench._django import django_up, running_rollout, timed

    django_up()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rollouts.models import Assignment, Channel, Rollout, Vehicle
    from rollouts.services.evaluation import rollout_evaluate

    rollout = running_rollout()
    stable = Channel.objects.get(name="stable")
    Vehicle.objects.bulk_create(
        Vehicle(vin=f"BENCH{n:012d}", model="Aurora", region="EU", channel=stable)
        for n in range(args.vehicles)
    )
    vehicles = list(Vehicle.objects.order_by("pk"))
    Assignment.objects.bulk_create(Assignment(rollout=rollout, vehicle=v) for v in vehicles)
    assignments = list(Assignment.objects.filter(rollout=rollout).order_by("vehicle_id"))

    def evaluate():
        rollout_evaluate(rollout_id=rollout.pk)

    def baseline():
        Rollout.objects.get(pk=rollout.pk)

    results = {}
    stored = 0
    for label, size in (("small", args.small), ("large", args.large)):
        add_events(rollout, vehicles, assignments, size - stored)
        stored = size
        connection.queries_log.clear()  # a bounded log, full after the inserts
        with CaptureQueriesContext(connection) as queries:
            evaluate()
        results[label] = {
            "events": size,
            "evaluation_s": timed(evaluate, args.repeat),
            "baseline_s": timed(baseline, args.repeat),
            "queries": len(queries),
        }
    ratio = results["large"]["evaluation_s"] / results["small"]["evaluation_s"]
    vendor = connection.vendor
    print(f"Evaluation cost against stored telemetry ({vendor}, {args.vehicles} vehicles)")
    for label in ("small", "large"):
        r = results[label]
        per_read = r["evaluation_s"] / r["baseline_s"]
        print(
            f"  {r['events']:>9,} events: {r['evaluation_s'] * 1000:7.2f} ms per evaluation, "
            f"{r['queries']} queries, {per_read:5.1f}x a primary-key read"
        )
    grew = args.large // args.small
    print(f"  ratio large/small: {ratio:.2f} (target: about 1; the events grew {grew}x)")
    results["ratio"] = ratio
    return results


if __name__ == "__main__":
    main()
