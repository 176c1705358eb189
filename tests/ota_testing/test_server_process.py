"""The plugin's test server never outlives its suite."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

KILLED_SUITE = """
import os, sys
from ota_testing.server import ServerProcess
process = ServerProcess(sys.argv[1])
server = process.start()
print(process.process.pid, server.url, flush=True)
os._exit(0)  # killed outright: no teardown runs
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone too: it only waits for its new parent to read its status.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_a_server_whose_suite_was_killed_stops_by_itself(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR)}
    suite = subprocess.run(
        [sys.executable, "-c", KILLED_SUITE, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pid, url = suite.stdout.split()
    assert url.startswith("http://127.0.0.1:")

    deadline = time.monotonic() + 10
    while alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert not alive(int(pid))
