"""`manage.py simulate_fleet` against `make run`'s server: the same commands, on a throwaway
folder, with a small demo fleet."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from ota_testing import ManagementClient
from tests.demo.test_demo import free_port, healthz_when_up

pytestmark = [pytest.mark.slow, pytest.mark.long]


def battery_stage_counts(base: str, token: str) -> dict:
    (rollout,) = [
        r
        for r in ManagementClient(base, token).get("manage/rollouts")
        if r["release_version"] == "2026.13-battery"
    ]
    return rollout["stages"][rollout["stage_index"]]["counts"]


def test_simulated_cars_move_a_demo_rollout_forward(tmp_path):
    env = {**os.environ, "OTA_VAR_DIR": str(tmp_path), "DATABASE_URL": ""}
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    port, base = free_port(), ""
    for step in (
        ["migrate", "-v0"],
        ["ota_init"],
        ["seed_demo", "--vehicles", "150", "--port", str(port)],
    ):
        subprocess.run([*manage, *step], env=env, check=True, timeout=300, capture_output=True)
    token = subprocess.run(
        [*manage, "drf_create_token", "admin"], env=env, check=True, capture_output=True, text=True
    ).stdout.split()[2]
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port), "--no-cluster"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert healthz_when_up(base)
        before = battery_stage_counts(base, token)

        run = subprocess.run(
            [
                *manage,
                "simulate_fleet",
                "--url",
                base,
                "--user",
                "admin",
                "--vehicles",
                "20",
                "--minutes",
                "0.1",
                "--poll-seconds",
                "2",
                "--channel",
                "beta",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

        after = battery_stage_counts(base, token)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert run.returncode == 0, run.stderr
    summary = re.search(r"(\d+) vehicles, (\d+) rounds .*?(\d+) offers, (\d+) installs", run.stdout)
    assert summary and summary[1] == "20" and int(summary[2]) >= 2
    assert int(summary[4]) > 0
    assert "Halts seen: none" in run.stdout
    assert "100%" in run.stderr  # the progress bar, to its end
    # Beta cars on the battery hardware took the running rollout's offer and succeeded.
    assert after["succeeded"] > before["succeeded"]
    assert after["offered"] > before["offered"]
