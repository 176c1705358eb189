"""What a vehicle poll costs the server, against the cheapest request it serves.

Starts gunicorn on 127.0.0.1 over a fresh demo database, then times, interleaved, GET /healthz
(no database, the trivial baseline) and idle polls: a signed manifest PUT that verifies every
ECU signature, checks the replay counter, decides and answers (nothing new to sign). Prints
medians, 95th percentiles and their ratio. Manifests are signed before the clock starts, so
only the server is timed.

    .venv/bin/python -m bench.poll [--vehicles 40] [--polls 400] [--workers 2]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=40)
    parser.add_argument("--polls", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from bench._django import django_up

    var = django_up()
    from django.core.management import call_command

    from ota.demo import demo_fleet, demo_sim_ecus
    from rollouts.models import Vehicle
    from rollouts.services.vehicles import vehicle_token_rotate
    from vehicle_client.client import VehicleClient

    call_command("seed_demo", vehicles=args.vehicles, stdout=StringIO(), stderr=StringIO())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cars = []
    for demo in demo_fleet(args.vehicles):
        vehicle = Vehicle.objects.get(vin=demo.vin)
        token = vehicle_token_rotate(vehicle=vehicle, actor=None, reason="benchmark")
        car = VehicleClient(base, demo.vin, token, demo_sim_ecus(demo), var / "cars" / demo.vin)
        car.report_counter = max(vehicle.report_counter, 0)
        cars.append(car)
    # Signed up front: the client's signing is not the server's cost.
    rounds = -(-args.polls // len(cars))
    manifests = [(car, json.dumps(car.manifest()).encode()) for _ in range(rounds) for car in cars]

    server = subprocess.Popen(  # noqa: S603  (our interpreter's gunicorn, fixed arguments)
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "ota.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        env={
            **os.environ,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-" * 10,
            "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1, no proxy
        },
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    try:
        import urllib3

        http = urllib3.PoolManager(maxsize=2)
        for _ in range(100):
            try:
                if http.request("GET", f"{base}/healthz", retries=False).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                time.sleep(0.1)
        healthz, polls = [], []
        for car, body in manifests[: args.polls]:
            start = time.perf_counter()
            answer = http.request("GET", f"{base}/healthz")
            healthz.append(time.perf_counter() - start)
            assert answer.status == 200, answer.status
            start = time.perf_counter()
            answer = http.request(
                "PUT",
                f"{base}/api/v1/vehicles/{car.vin}/manifest",
                body=body,
                headers={
                    "Authorization": f"Bearer {car.token}",
                    "Content-Type": "application/json",
                },
            )
            polls.append(time.perf_counter() - start)
            assert answer.status == 200, (answer.status, answer.data[:300])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    result = {
        "healthz_ms": statistics.median(healthz) * 1000,
        "poll_ms": statistics.median(polls) * 1000,
        "healthz_p95_ms": percentile(healthz, 0.95) * 1000,
        "poll_p95_ms": percentile(polls, 0.95) * 1000,
    }
    result["ratio"] = result["poll_ms"] / result["healthz_ms"]
    print(f"Idle poll against /healthz, gunicorn with {args.workers} workers, {len(polls)} each")
    for name, key in (("/healthz", "healthz"), ("poll", "poll")):
        median, p95 = result[f"{key}_ms"], result[f"{key}_p95_ms"]
        print(f"  {name:<10} median {median:6.2f} ms   p95 {p95:6.2f} ms")
    print(f"  ratio poll/healthz (medians): {result['ratio']:.1f}")
    return result


if __name__ == "__main__":
    main()
