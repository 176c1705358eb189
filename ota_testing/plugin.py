"""The pytest plugin (entry point `ota`): an OTA server for a suite, a simulated fleet and
factories, all named `ota_…`. Nothing here is autouse and no setting of the host suite is
touched; a suite that asks for none of these fixtures starts no server.

    def test_a_bad_build_halts_in_stage_one(ota_fleet, ota_bundle, ota_release, ota_rollout):
        fleet = ota_fleet(40, hardware_ids=["hu-gen7"])
        release = ota_release([ota_bundle(b"bad build", hardware_id="hu-gen7")])
        rollout = ota_rollout(release, fleet=fleet, policy={"min_finished": 5})
        fleet.poll(fail=0.75)
        rollout.evaluate()
        assert rollout.status == "halted"

docs/testing.md is the guide.
"""

import pytest

from ota_testing.harness import OtaServer


@pytest.fixture(scope="session")
def ota_server(tmp_path_factory) -> OtaServer:
    """A real OTA server for the whole session, in its own process on 127.0.0.1 (SQLite,
    local files and keys in a temporary folder), with a clock tests may move forward."""
    from ota_testing.server import ServerProcess

    process = ServerProcess(tmp_path_factory.mktemp("ota-server"))
    server = process.start()
    server.log_path = process.log_path
    try:
        yield server
    finally:
        server.close()
        process.stop()


@pytest.fixture
def ota_live_server(transactional_db, live_server, tmp_path) -> OtaServer:
    """The same on pytest-django's `live_server` and the test database (transactional: the
    server's thread sees what the test wrote), for a Django project whose settings install
    our apps. To run every `ota_…` factory on it, override:
    `@pytest.fixture` `def ota_server(ota_live_server): return ota_live_server`."""
    from django.core.servers.basehttp import WSGIRequestHandler

    from ota_testing.inprocess import live_ota_server

    # For this test only: no 40 ms wait per request (ota/devserver.py); put back after.
    nagle = WSGIRequestHandler.disable_nagle_algorithm
    WSGIRequestHandler.disable_nagle_algorithm = True
    server, clock = live_ota_server(live_server.url, tmp_path)
    try:
        yield server
    finally:
        server.close()  # before live_server stops: its threads end with their connections
        clock.close()
        WSGIRequestHandler.disable_nagle_algorithm = nagle


@pytest.fixture
def ota_fleet(ota_server):
    """`ota_fleet(count, model=…, region=…, channel=…, hardware_ids=…)`: vehicles provisioned
    on the server, as reference clients (`poll`, `poll_cycle`, `drive`)."""
    return ota_server.fleet


@pytest.fixture
def ota_bundle(ota_server):
    """`ota_bundle(data, hardware_id=…, version=…, release_counter=…)`: uploaded, published."""
    return ota_server.bundle


@pytest.fixture
def ota_release(ota_server):
    """`ota_release(bundles, approve=True, …)`: made by the author, approved by the approver."""
    return ota_server.release


@pytest.fixture
def ota_rollout(ota_server):
    """`ota_rollout(release, channel="dev", stages=…, policy=…, fleet=…)`: approved, started."""
    return ota_server.rollout


@pytest.fixture
def ota_clock(ota_server):
    """The server's clock: `now()`, and `advance(hours=…)` (forward only)."""
    return ota_server.clock
