"""The benchmarks are not timed tests; these only show that each still runs and reports."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("module", "arguments", "reports"),
    [
        ("bench.evaluation", ["--small", "200", "--large", "2000", "--vehicles", "50"], "ratio"),
        ("bench.hashing", ["--megabytes", "4", "--repeat", "1"], "ratio"),
        ("bench.poll", ["--vehicles", "4", "--polls", "20"], "ratio poll/healthz"),
    ],
    ids=["evaluation", "hashing", "poll"],
)
def test_a_benchmark_runs_and_prints_its_ratio(module, arguments, reports):
    run = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert reports in run.stdout
