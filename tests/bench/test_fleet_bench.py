"""bench.fleet and bench.fleet_pages are not timed tests either: these show that they load a
tiny fleet on PostgreSQL and print every figure issues 24 and 25 ask of them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATH = "/usr/bin:/bin"

pytestmark = [pytest.mark.slow, pytest.mark.long]

FIGURES = [
    "idle PUT/s",
    "offers/s",
    "offers/s ÷ idle PUT/s",
    "offer statements waiting on a lock",
    "counter row hold",
    "advance 10→20 %: sampled cars taking a full decision",
    "newly bucketed",
    "full ÷ (newly bucketed + open)",
    "pause: cars with no assignment of it taking a full decision",
    "evaluator at 200 / 2,000 assignments",
    "evaluator meeting 2,000 stale installs",
    "peak memory over idle",
    "longest transaction seen",
    '"load_seconds"',
]


def postgres_url() -> str | None:
    """The server the suite runs on, through its maintenance database: the one the URL names
    may be the suite's own, made by pytest-django under another name."""
    for name in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        url = urlsplit(os.environ.get(name, ""))
        if url.scheme in ("postgres", "postgresql"):
            return urlunsplit(url._replace(path="/postgres"))
    return None


def unavailable(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_SERVICES"):
        pytest.fail(message)  # CI has both: their absence there is a failure, not a skip
    pytest.skip(message)


@pytest.mark.skipif(
    postgres_url() is None, reason="PostgreSQL only: runs in the PostgreSQL pass of CI"
)
def test_the_fleet_benchmark_loads_a_small_fleet_and_prints_every_figure():
    url = postgres_url()
    if shutil.which("wrk", path=PATH) is None:
        unavailable("wrk is not installed: apt-get install -y wrk (CI installs it in .ci/run)")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            *("--cars", "2000", "--seconds", "1", "--rounds", "1"),
            *("--sample", "300", "--repeat", "2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": PATH, "HOME": str(ROOT), "BENCH_DATABASE_URL": url},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for figure in FIGURES:
        assert figure in run.stdout


@pytest.mark.skipif(
    postgres_url() is None, reason="PostgreSQL only: runs in the PostgreSQL pass of CI"
)
def test_the_pages_benchmark_times_every_page_at_two_sizes():
    from bench.fleet_pages import pages

    run = subprocess.run(
        [sys.executable, "-m", "bench.fleet_pages", "--small", "300", "--cars", "600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": PATH, "HOME": str(ROOT), "BENCH_DATABASE_URL": postgres_url()},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "s at 300" in run.stdout and "s at 600" in run.stdout
    for name, _who, _path in pages(release_id=1, cars=600):
        assert f"  {name} " in run.stdout
