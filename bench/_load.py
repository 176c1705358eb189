"""Throughput under concurrency: gunicorn on 127.0.0.1, Debian's `wrk` replaying request files
through a Lua script, and the server's CPU time per request (its workers, and its PostgreSQL
backends when on PostgreSQL), read from /proc."""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2  # wrk -t 2: one per core of the machine the targets were set on
TICKS = os.sysconf("SC_CLK_TCK")

# Replays this thread's own request file, one request per line:
# METHOD <tab> PATH <tab> BEARER TOKEN (may be empty) <tab> BODY (may be empty).
# `wrk ... -- <prefix> once|cycle`: thread n reads <prefix>.<n>. "once" sends each line once, in
# order (signed manifests: the report counters of a car must arrive increasing), and stops the
# thread if the lines run out (reported as `exhausted`: the caller signs more and runs again);
# "cycle" starts over. Answers other than 200 are counted by status and printed by done().
LUA = r"""
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local handle = assert(io.open(args[1] .. "." .. id, "rb"))
  lines = handle:read("*a")
  handle:close()
  cycle = args[2] == "cycle"
  at = 1
  statuses = {}
  exhausted = 0
  spare = wrk.format("GET", "/healthz")
end

function request()
  if at > #lines then
    if not cycle then
      exhausted = 1
      wrk.thread:stop()
      return spare
    end
    at = 1
  end
  local stop = lines:find("\n", at, true) or (#lines + 1)
  local line = lines:sub(at, stop - 1)
  at = stop + 1
  local method, path, token, body = line:match("^(%u+)\t([^\t]+)\t([^\t]*)\t(.*)$")
  local headers = {}
  if token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  if body == "" then
    body = nil
  else
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local ran_out = 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    ran_out = ran_out + thread:get("exhausted")
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  io.write(string.format(
    "bench-result requests=%d duration_us=%d exhausted=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, ran_out,
    errors.connect, errors.read, errors.write, errors.timeout))
  for status, n in pairs(by_status) do
    io.write(string.format("bench-status %s %d\n", status, n))
  end
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(
            "wrk is not installed; these benchmarks drive the server with it. "
            "Install Debian's: apt-get install -y wrk"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- CPU time from /proc ---------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": the comm may hold spaces


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process, or None once it is gone."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / TICKS


def children(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds spent by a changing set of processes between start() and stop().

    The set is looked up again every `every` seconds while it runs: a process that appears
    (a PostgreSQL backend opened by a worker) counts from its birth, one that exits counts up
    to its last sample."""

    def __init__(self, processes: Callable[[], Iterable[int]], every: float = 0.25):
        self.processes, self.every = processes, every
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self, *, first: bool = False) -> None:
        for pid in self.processes():
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue
            self._base.setdefault(pid, seconds if first else 0.0)
            self._last[pid] = seconds

    def total(self) -> float:
        return sum(self._last[pid] - self._base[pid] for pid in self._last)

    def start(self) -> None:
        self._base, self._last = {}, {}
        self.sample(first=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.total()


# Server-side TCP states of a request not yet answered: queued, accepted, or dropped by wrk
# and still to be read (the server answers it anyway).
_BUSY_STATES = {"01", "03", "08"}  # ESTABLISHED, SYN_RECV, CLOSE_WAIT


def open_connections(port: int) -> int:
    """Connections to 127.0.0.1:`port` the server has not closed yet (/proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, _remote, state = row.split()[1:4]
            if int(local.rsplit(":", 1)[1], 16) == port and state in _BUSY_STATES:
                count += 1
    return count


def settle(port: int, longest: float = 120.0) -> None:
    """Wait until the server has answered everything: when its time is up wrk drops the
    request each connection has in flight, and the server still does that work. Its cost
    belongs to the run that sent it, and the next run must start on an idle server."""
    deadline = time.monotonic() + longest
    while open_connections(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"the server was still busy {longest:.0f} s after wrk stopped")
        time.sleep(0.05)
    time.sleep(0.05)  # the worker closes the socket before Django's request_finished


class PostgresBackends:
    """The server processes serving the benchmark's database (client backends only: not
    autovacuum), seen through a connection of our own that is left out."""

    def __init__(self, url: str):
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True, application_name="ota-bench-meter")
        self.lock = threading.Lock()

    def __call__(self) -> list[int]:
        with self.lock:
            rows = self.connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        return [pid for (pid,) in rows]

    def close(self) -> None:
        self.connection.close()


# --- the server ------------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn ota.wsgi` with sync workers on 127.0.0.1, production-like settings."""

    def __init__(self, *, workers: int):
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        self.process = subprocess.Popen(  # noqa: S603  (our interpreter's gunicorn, fixed arguments)
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "ota.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--worker-class",
                "sync",
                "--log-level",
                "warning",
            ],
            env={
                **os.environ,
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": "bench-" * 10,
                "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1, no proxy
                # wrk sends each car many requests a second, a real car one an hour: the
                # per-vehicle throttle still runs (its cost is measured) but never answers 429.
                "OTA_VEHICLE_RATE": "100000/s",
            },
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_up(self) -> None:
        import urllib3

        http = urllib3.PoolManager()
        for _ in range(300):
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with status {self.process.returncode}")
            try:
                answer = http.request("GET", f"{self.base}/healthz", retries=False)
                if answer.status == 200 and len(self.worker_pids()) == self.workers:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("gunicorn did not answer /healthz within 30 s")

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop()


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class Run:
    """One wrk run of one request kind."""

    requests: int  # answered, whatever the status
    seconds: float
    statuses: dict[str, int]  # answers other than 200, by status
    socket_errors: int  # connect, read, write errors and time-outs
    exhausted: bool
    app_cpu: float = 0.0  # seconds, the gunicorn workers
    db_cpu: float | None = None  # seconds, the PostgreSQL backends
    connections: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def failures(self) -> int:
        return sum(self.statuses.values()) + self.socket_errors

    @property
    def served(self) -> int:
        # When its time is up wrk drops the request each connection has in flight; the server
        # still does the work (settle() waits for it), so it counts here. (Checked: the counters
        # of the manifests the server accepted run ahead of wrk's count by the connections.)
        return self.requests + self.connections

    def app_ms(self) -> float:
        return self.app_cpu * 1000 / self.served

    def db_ms(self) -> float | None:
        return None if self.db_cpu is None else self.db_cpu * 1000 / self.served


@dataclass
class Load:
    """Drives one server with wrk and meters its CPU."""

    server: Gunicorn
    workdir: Path
    connections: int
    database: PostgresBackends | None = None
    wrk: str = field(default_factory=require_wrk)

    def write(self, name: str, per_thread: list[list[str]]) -> Path:
        """Request files, one per wrk thread; each line from `line()`."""
        prefix = self.workdir / name
        for number, lines in enumerate(per_thread):
            Path(f"{prefix}.{number}").write_text("".join(f"{text}\n" for text in lines))
        script = self.workdir / "replay.lua"
        if not script.exists():
            script.write_text(LUA)
        return prefix

    def run(self, prefix: Path, *, seconds: float, cycle: bool) -> Run:
        meters = [CpuMeter(self.server.worker_pids)]
        if self.database is not None:
            meters.append(CpuMeter(self.database))
        for meter in meters:
            meter.start()
        try:
            done = subprocess.run(  # noqa: S603  (wrk at a fixed path, our own arguments)
                [
                    self.wrk,
                    "-t",
                    str(min(THREADS, self.connections)),
                    "-c",
                    str(self.connections),
                    "-d",
                    f"{max(1, round(seconds))}s",
                    "--timeout",
                    "30s",  # longer than SQLite's lock wait: the server gives up first
                    "-s",
                    str(self.workdir / "replay.lua"),
                    self.server.base,
                    "--",
                    str(prefix),
                    "cycle" if cycle else "once",
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
            settle(self.server.port)
        finally:
            cpu = [meter.stop() for meter in meters]
        return self._parse(done, cpu)

    def _parse(self, done: subprocess.CompletedProcess, cpu: list[float]) -> Run:
        found = re.search(
            r"bench-result requests=(\d+) duration_us=(\d+) exhausted=(\d+) "
            r"connect=(\d+) read=(\d+) write=(\d+) timeout=(\d+)",
            done.stdout,
        )
        if done.returncode != 0 or found is None:
            raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        requests, duration, exhausted, *errors = (int(n) for n in found.groups())
        return Run(
            requests=requests,
            seconds=duration / 1e6,
            statuses={s: int(n) for s, n in re.findall(r"bench-status (\d+) (\d+)", done.stdout)},
            socket_errors=sum(errors),
            exhausted=bool(exhausted),
            app_cpu=cpu[0],
            db_cpu=cpu[1] if len(cpu) > 1 else None,
            connections=self.connections,
        )


def line(method: str, path: str, token: str = "", body: str = "") -> str:
    assert "\t" not in token + path and "\n" not in body, "one request per line"
    return f"{method}\t{path}\t{token}\t{body}"


def split(items: list, parts: int) -> list[list]:
    """Disjoint slices, one per wrk thread."""
    return [items[n::parts] for n in range(parts)]


# --- the cars --------------------------------------------------------------------------------


def demo_cars(count: int, base: str, workdir: Path) -> list:
    """The seeded demo fleet (`seed_demo`: its shape, ECUs and keys), each car with a fresh
    token and a reference client that signs its manifests."""
    from io import StringIO

    from django.core.management import call_command

    from demo.fleet import demo_fleet, demo_sim_ecus
    from rollouts.models import Vehicle
    from rollouts.services.vehicles import vehicle_token_rotate
    from vehicle_client.client import VehicleClient

    call_command("seed_demo", vehicles=count, stdout=StringIO(), stderr=StringIO())
    cars = []
    for demo in demo_fleet(count):
        vehicle = Vehicle.objects.get(vin=demo.vin)
        token = vehicle_token_rotate(vehicle=vehicle, actor=None, reason="benchmark")
        car = VehicleClient(base, demo.vin, token, demo_sim_ecus(demo), workdir / demo.vin)
        car.report_counter = max(vehicle.report_counter, 0)
        cars.append(car)
    return cars


def first_contact(cars: list, base: str) -> None:
    """One manifest and one Director timestamp per car (a few cars at a time, each car's in
    turn): the first poll of a car records its ECUs' images and signs its Director metadata;
    what is measured after is the idle poll, where nothing changed."""
    from concurrent.futures import ThreadPoolExecutor

    import urllib3

    http = urllib3.PoolManager(maxsize=4)

    def contact(car) -> None:
        headers = {"Authorization": f"Bearer {car.token}", "Content-Type": "application/json"}
        for method, path, body in (
            ("PUT", f"/api/v1/vehicles/{car.vin}/manifest", json.dumps(car.manifest())),
            ("GET", f"/api/v1/tuf/director/{car.vin}/metadata/timestamp.json", None),
        ):
            answer = http.request(method, f"{base}{path}", body=body, headers=headers)
            if answer.status != 200:
                raise SystemExit(f"{method} {path}: {answer.status} {answer.data[:300]!r}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(contact, cars))


def manifest_lines(cars: list, per_car: int) -> list[list[str]]:
    """`per_car` freshly signed manifests per car, for each wrk thread its own cars, walked
    round-robin: a car's counters go out in increasing order, and between two requests of one
    car its thread sends one for each of its other cars."""
    per_thread = []
    for mine in split(cars, THREADS):
        lines = []
        for _ in range(per_car):
            for car in mine:
                path = f"/api/v1/vehicles/{car.vin}/manifest"
                lines.append(line("PUT", path, car.token, json.dumps(car.manifest())))
        per_thread.append(lines)
    return per_thread


SPREAD = 8  # cars per connection, at least


def check_spread(cars: int, connections: int) -> str | None:
    """Why the cars are too few for the connections, if they are. A thread sends a car's next
    manifest only after one for each of its other cars: for two of one car's manifests to be
    in flight at once (the later one could arrive first and the earlier be refused as a
    replay), one request would have to stall while all those pass on the thread's other
    connections. With one connection per thread it cannot happen at all."""
    threads = min(THREADS, connections)
    if cars // threads < SPREAD * -(-connections // threads):
        return (
            f"{cars} cars are too few for {connections} connections: each wrk thread needs "
            f"{SPREAD} cars per connection ({SPREAD * connections} cars)"
        )
    return None


class Manifests:
    """Signed manifest PUTs for the runs, signed before each run's clock starts. The supply is
    sized from the rate seen so far; a run that runs out is thrown away and run again with
    more (a run with idle connections would understate the rate)."""

    FIRST_RATE = 3000  # requests/s assumed before anything is measured

    def __init__(self, load: Load, cars: list):
        self.load, self.cars = load, cars
        self.best_rate: float | None = None
        self.signing_seconds = 0.0

    def run(self, seconds: float) -> Run:
        wanted = (3 * self.best_rate if self.best_rate else self.FIRST_RATE) * seconds
        for _attempt in range(5):
            per_car = max(2, -(-int(wanted) // len(self.cars)))
            start = time.perf_counter()
            prefix = self.load.write("manifests", manifest_lines(self.cars, per_car))
            self.signing_seconds += time.perf_counter() - start
            result = self.load.run(prefix, seconds=seconds, cycle=False)
            if not result.exhausted:
                self.best_rate = max(self.best_rate or 0.0, result.rate)
                return result
            wanted *= 4
        raise SystemExit("ran out of signed manifests five times: is the rate plausible?")


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- rounds and their summary ----------------------------------------------------------------

BASELINE = "healthz"
FAILURE_SHARE = 0.01  # above it a run measured refusals, not the request


def interleaved(
    kinds: dict[str, Callable[[float], Run]], *, rounds: int, seconds: float
) -> dict[str, list[Run]]:
    """A warm-up run of each kind (thrown away), then `rounds` rounds of every kind in turn,
    and the baseline once more at the end, so every other run has a baseline run on each side."""
    for run in kinds.values():
        run(1)
    runs: dict[str, list[Run]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, run in kinds.items():
            runs[name].append(run(seconds))
    runs[BASELINE].append(kinds[BASELINE](seconds))
    return runs


@dataclass
class Summary:
    rate: float  # req/s, median of the rounds
    ratio: float  # against the baseline runs on either side, median of the rounds
    app_ms: float  # server CPU per request: gunicorn workers
    db_ms: float | None  # and PostgreSQL backends
    requests: int
    statuses: dict[str, int]  # answers other than 200, all rounds
    socket_errors: int

    @property
    def non_200(self) -> int:
        return sum(self.statuses.values())

    @property
    def failure_share(self) -> float:
        return (self.non_200 + self.socket_errors) / max(1, self.requests + self.socket_errors)


def summarize(runs: dict[str, list[Run]]) -> dict[str, Summary]:
    baseline = [run.rate for run in runs[BASELINE]]
    result = {}
    for name, mine in runs.items():
        if name == BASELINE:
            ratios = [1.0]
        else:
            ratios = [
                run.rate / max(1e-9, (baseline[n] + baseline[n + 1]) / 2)
                for n, run in enumerate(mine)
            ]
        statuses: dict[str, int] = {}
        for run in mine:
            for status, count in run.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        db = [run.db_ms() for run in mine if run.db_cpu is not None]
        result[name] = Summary(
            rate=median([run.rate for run in mine]),
            ratio=median(ratios),
            app_ms=median([run.app_ms() for run in mine]),
            db_ms=median(db) if db else None,
            requests=sum(run.requests for run in mine),
            statuses=statuses,
            socket_errors=sum(run.socket_errors for run in mine),
        )
    return result


def failures(summaries: dict[str, Summary], labels: dict[str, str]) -> list[str]:
    """One line per kind with answers other than 200 or socket errors; empty if none."""
    lines = []
    for name, summary in summaries.items():
        if summary.non_200 or summary.socket_errors:
            statuses = ", ".join(f"{n} x {s}" for s, n in sorted(summary.statuses.items()))
            lines.append(
                f"  {labels[name]}: {statuses or 'no bad status'}; "
                f"{summary.socket_errors} socket errors ({summary.failure_share:.1%})"
            )
    return lines


def fail_on_refusals(summaries: dict[str, Summary], labels: dict[str, str]) -> None:
    failed = [labels[n] for n, s in summaries.items() if s.failure_share > FAILURE_SHARE]
    if failed:
        raise SystemExit(
            f"More than {FAILURE_SHARE:.0%} of the answers were not 200 for: {', '.join(failed)}"
        )


# --- one benchmark's setting -----------------------------------------------------------------


class Bench:
    """A fresh database with the demo fleet, gunicorn over it, and wrk to load it.

    `prepare` runs after the fleet is seeded and before the server starts."""

    def __init__(self, args, prepare: Callable[[], None] | None = None):
        self.args, self.prepare = args, prepare
        self.stack = ExitStack()

    def __enter__(self) -> "Bench":
        from bench._django import django_up

        with ExitStack() as stack:
            self.var = django_up()
            from django.db import connection

            self.vendor = connection.vendor
            self.server = Gunicorn(workers=self.args.workers)
            self.cars = demo_cars(self.args.vehicles, self.server.base, self.var / "cars")
            if self.prepare is not None:
                self.prepare()
            self.database = None
            if self.vendor == "postgresql":
                self.database = PostgresBackends(os.environ["DATABASE_URL"])
                stack.callback(self.database.close)
            self.release_connections()
            stack.enter_context(self.server)
            self.load = Load(self.server, self.var, self.args.connections, self.database)
            first_contact(self.cars, self.server.base)
            self.manifests = Manifests(self.load, self.cars)
            self.stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    @staticmethod
    def release_connections() -> None:
        """Close this process's database connections: only the server's count as its CPU."""
        from django.db import connections

        connections.close_all()

    def cycling(self, name: str, line_of: Callable[[object], str]) -> Callable[[float], Run]:
        """A kind whose requests are the same every time: one line per car, repeated."""
        prefix = self.load.write(
            name, [[line_of(car) for car in mine] for mine in split(self.cars, THREADS)]
        )
        return lambda seconds: self.load.run(prefix, seconds=seconds, cycle=True)
