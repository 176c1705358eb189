"""The fleet simulator behind `manage.py simulate_fleet`, against the plugin's test server."""

from datetime import timedelta

import pytest

from ota_testing.server import ServerProcess
from ota_testing.simulator import simulate

pytestmark = pytest.mark.slow


@pytest.fixture
def test_server(tmp_path):
    process = ServerProcess(tmp_path)
    server = process.start()
    yield server
    server.close()
    process.stop()


def test_a_halt_during_the_run_is_reported_with_its_reason(test_server):
    release = test_server.release([test_server.bundle(b"bricks", hardware_id="hu-gen7")])
    test_server.rollout(
        release,
        channel="beta",
        stages=[
            {"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}
        ],
        policy={"critical_error_codes": ["E_FLASH"]},
        override_reason="test",
    )
    shown = []

    summary = simulate(
        test_server.url,
        test_server.author._token,
        vehicles=6,
        duration=timedelta(seconds=1),
        channel="beta",
        hardware_ids=("tcu-gen3", "hu-gen7"),
        fail=0.5,
        workdir=test_server.workdir / "simulated",
        progress=lambda done, s: shown.append(done),
    )

    # The second install fails with the critical code: the rollout halts at once.
    assert (summary.vehicles, summary.installed, summary.failed) == (6, 1, 1)
    assert len(summary.halts_seen) == 1
    assert summary.halts_seen[0].startswith(f"{release['version']} on beta: ")
    assert "E_FLASH" in summary.halts_seen[0]
    assert shown[-1] == 1.0
