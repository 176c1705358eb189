"""The benchmarks are not timed tests; these only show that each still runs and reports."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATH = "/usr/bin:/bin"

pytestmark = pytest.mark.slow

# One connection per wrk thread (-c 2): a car's manifests cannot overtake each other.
TINY_LOAD = ["--vehicles", "16", "--connections", "2", "--seconds", "1", "--rounds", "1"]


@pytest.mark.parametrize(
    ("module", "arguments", "reports"),
    [
        (
            "bench.evaluation",
            ["--small", "200", "--large", "2000", "--vehicles", "50"],
            ["ratio large/small"],
        ),
        ("bench.hashing", ["--megabytes", "4", "--repeat", "1"], ["ratio"]),
        ("bench.deltas", ["--megabytes", "2"], ["size ", "build ", "apply ", "peak", "ratio"]),
        (
            "bench.delta_libraries",
            ["--megabytes", "2"],
            ["(ours)", "zstd-patch-from-19", "not installed (pip install bsdiff4)"],
        ),
        pytest.param(
            "bench.poll",
            TINY_LOAD,
            [
                "req/s",
                "ratio",
                "app CPU ms/req",
                "GET /healthz",
                "PUT manifest (idle)",
                "GET Director timestamp",
                "GET Image timestamp",
                "≥ 0.15",
            ],
            marks=pytest.mark.long,
        ),
        pytest.param(
            "bench.poll_history",
            [*TINY_LOAD, "--small", "100", "--large", "2000"],
            ["assignments", "idle PUT req/s", "ratio time per poll at 2,000 / at 100"],
            marks=pytest.mark.long,
        ),
    ],
    ids=["evaluation", "hashing", "deltas", "delta_libraries", "poll", "poll_history"],
)
def test_a_benchmark_runs_and_prints_its_table(module, arguments, reports):
    if module.startswith("bench.poll") and shutil.which("wrk", path=PATH) is None:
        message = "wrk is not installed: apt-get install -y wrk (CI installs it in .ci/run)"
        if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_SERVICES"):
            pytest.fail(message)  # CI installs it: its absence there is a failure, not a skip
        pytest.skip(message)
    run = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": PATH, "HOME": str(ROOT)},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for report in reports:
        assert report in run.stdout
