"""How many vehicle polls the server answers under concurrency, against its cheapest request.

gunicorn (2 sync workers) on 127.0.0.1 over a fresh database holding the seeded demo fleet (its
cars, their ECUs and keys), loaded by Debian's `wrk` (2 threads, 16 connections) with four
request kinds, interleaved: /healthz, then each kind in turn, for several rounds, and /healthz
once more at the end.

- `GET /healthz`: no database, no session; the baseline.
- idle manifest `PUT /api/v1/vehicles/{vin}/manifest`: the car reports what it reported before,
  so nothing changed and nothing is to be decided anew. Every request is a freshly signed
  manifest with a higher report counter than the car's last, signed before the clock starts;
  each wrk thread sends its own cars' manifests, a car's in counter order.
- Director `GET /api/v1/tuf/director/{vin}/metadata/timestamp.json`, with the car's token.
- Image `GET /api/v1/tuf/image/metadata/timestamp.json`, public.

Reading the table: req/s is the median of the rounds. The ratio is a kind's req/s over that of
the /healthz runs just before and after it (the median of the rounds): a machine that gets
busier during the run slows both sides, so the ratio holds where req/s drifts. The targets of
the product brief (§9) are such ratios: idle PUT ≥ 0.25 on PostgreSQL (≥ 0.15 on SQLite),
Director timestamp ≥ 0.5, Image timestamp ≥ 0.8; a missed target is printed, never failed.
CPU ms/req is what the server spent per request: utime + stime of the gunicorn workers, and of
the database's PostgreSQL backends (on PostgreSQL), read from /proc; it says where the time
went whatever else the machine did. The run fails if more than 1% of a kind's answers are not
200 (a refused manifest would measure the refusal, not the poll).

    .venv/bin/python -m bench.poll [--vehicles 200] [--seconds 3] [--rounds 5]
        [--connections 16] [--workers 2]

Needs `wrk` (apt-get install wrk). With BENCH_DATABASE_URL=postgres://… it runs on a new
database on that server, dropped at the end.
"""

import argparse
import time

LABELS = {
    "healthz": "GET /healthz",
    "put": "PUT manifest (idle)",
    "director": "GET Director timestamp",
    "image": "GET Image timestamp",
}
TARGETS = {"director": 0.5, "image": 0.8}
PUT_TARGETS = {"postgresql": 0.25, "sqlite": 0.15}
DIRECTOR_TIMESTAMP = "/api/v1/tuf/director/{vin}/metadata/timestamp.json"
IMAGE_TIMESTAMP = "/api/v1/tuf/image/metadata/timestamp.json"


def parser(description: str) -> argparse.ArgumentParser:
    """The options bench.poll and bench.poll_history share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--vehicles", type=int, default=200, help="demo cars that poll")
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    return parser


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    from bench import _load

    _load.require_wrk()
    if problem := _load.check_spread(args.vehicles, args.connections):
        raise SystemExit(problem)
    began = time.perf_counter()
    with _load.Bench(args) as bench:
        kinds = {
            "healthz": bench.cycling("healthz", lambda car: _load.line("GET", "/healthz")),
            "put": bench.manifests.run,
            "director": bench.cycling(
                "director",
                lambda car: _load.line("GET", DIRECTOR_TIMESTAMP.format(vin=car.vin), car.token),
            ),
            "image": bench.cycling("image", lambda car: _load.line("GET", IMAGE_TIMESTAMP)),
        }
        runs = _load.interleaved(kinds, rounds=args.rounds, seconds=args.seconds)
        signing = bench.manifests.signing_seconds
        vendor = bench.vendor
    summaries = _load.summarize(runs)
    targets = {**TARGETS, "put": PUT_TARGETS[vendor]}

    print(
        f"Poll path under load ({vendor}): gunicorn, {args.workers} sync workers; "
        f"wrk -t {_load.THREADS} -c {args.connections}; {args.rounds} rounds of "
        f"{args.seconds} s, interleaved; {args.vehicles} demo cars"
    )
    on_postgres = vendor == "postgresql"
    db_head = f"{'DB CPU ms/req':>15}" if on_postgres else ""
    print(
        f"  {'request':<24}{'req/s':>9}{'ratio':>7}  {'target':<16}"
        f"{'app CPU ms/req':>15}{db_head}{'non-200':>9}"
    )
    result = {"database": vendor, "kinds": {}}
    for name, summary in summaries.items():
        target = targets.get(name)
        met = None if target is None else summary.ratio >= target
        shown = "" if target is None else f"≥ {target:.2f} {'met' if met else 'not met'}"
        db = f"{summary.db_ms:>15.2f}" if on_postgres else ""
        print(
            f"  {LABELS[name]:<24}{summary.rate:>9.1f}{summary.ratio:>7.3f}  {shown:<16}"
            f"{summary.app_ms:>15.2f}{db}{summary.non_200:>9}"
        )
        result["kinds"][name] = {
            "rate": summary.rate,
            "ratio": summary.ratio,
            "target": target,
            "met": met,
            "app_cpu_ms": summary.app_ms,
            "db_cpu_ms": summary.db_ms,
            "requests": summary.requests,
            "non_200": summary.non_200,
            "socket_errors": summary.socket_errors,
        }
    print(
        "  req/s: median of the rounds; ratio: req/s over /healthz req/s of the runs on either "
        "side (median); CPU: server time per request"
    )
    for line in _load.failures(summaries, LABELS):
        print(line)
    result["signing_seconds"] = signing
    result["seconds"] = time.perf_counter() - began
    print(
        f"  {result['seconds']:.0f} s in all; manifests were signed before the clock started "
        f"({signing:.1f} s)"
    )
    _load.fail_on_refusals(summaries, LABELS)
    return result


if __name__ == "__main__":
    main()
