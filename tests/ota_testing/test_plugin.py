"""The pytest plugin as a downstream suite meets it: each case is a suite of its own, run by
pytest in a subprocess (pytester)."""

import re

import pytest

pytestmark = pytest.mark.slow

PLAIN_SUITE = """
def test_arithmetic():
    assert 1 + 1 == 2
"""


def test_a_suite_that_asks_for_nothing_gets_nothing(suite):
    suite.files(test_plain=PLAIN_SUITE)

    plan = suite.run("-p", "no:django", "--setup-plan")
    listing = suite.run("-p", "no:django", "--fixtures")

    plan.assert_outcomes()  # planned, not run
    assert "ota_" not in plan.stdout.str()  # no fixture of ours is set up: no autouse
    ours = re.findall(
        r"^(\w+)( \[\w+ scope\])? -- .*ota_testing/plugin\.py", listing.stdout.str(), re.M
    )
    assert sorted(name for name, _ in ours) == [
        "ota_bundle",
        "ota_clock",
        "ota_fleet",
        "ota_live_server",
        "ota_release",
        "ota_rollout",
        "ota_server",
    ]
    assert not list(suite.pytester.path.rglob("ready.json"))  # and no server started


SERVER_SUITE = """
from datetime import timedelta

import pytest

from ota_testing import ApiError


def test_the_clock_moves_forward_only(ota_server, ota_clock):
    before = ota_clock.now()

    after = ota_clock.advance(hours=2)

    assert after - before >= timedelta(hours=2)
    with pytest.raises(ApiError) as refused:
        ota_server.author.post("testing/clock", {"seconds": -60})
    assert refused.value.code == "invalid_request"
    assert ota_server.author.get("testing/clock")["offset_seconds"] >= 7200


def test_an_author_cannot_approve_a_release(ota_server, ota_bundle, ota_release):
    release = ota_release([ota_bundle(b"build", hardware_id="hu-gen7")], approve=False)

    with pytest.raises(ApiError) as refused:
        ota_server.author.post(f"manage/releases/{release['id']}/approve")

    assert refused.value.status == 403
    assert ota_server.approver.post(f"manage/releases/{release['id']}/approve")["approved_by"]


def test_silent_installs_time_out_once_the_clock_passes_the_limit(
    ota_fleet, ota_bundle, ota_release, ota_rollout, ota_clock
):
    fleet = ota_fleet(10, hardware_ids=["hu-gen7"])
    release = ota_release([ota_bundle(b"build", hardware_id="hu-gen7")])
    rollout = ota_rollout(release, fleet=fleet, policy={"install_timeout_minutes": 60})

    assert fleet.poll(silent=0.5)["silent"] == 5
    rollout.evaluate()
    assert rollout.counts()["timed_out"] == 0
    ota_clock.advance(minutes=61)
    rollout.evaluate()

    assert rollout.counts()["timed_out"] == 5


def test_cars_provisioned_by_two_tests_never_meet(ota_server, ota_fleet):
    first, second = ota_fleet(2), ota_fleet(2, region="US", channel="beta")

    assert not set(first.vins) & set(second.vins)
    vehicle = ota_server.author.get(f"manage/vehicles/{second.vins[0]}")
    assert (vehicle["region"], vehicle["channel"]) == ("US", "beta")
"""


def test_the_server_its_clock_and_its_people(suite):
    suite.files(test_server=SERVER_SUITE)

    result = suite.run("-p", "no:django")

    result.assert_outcomes(passed=4)


IN_PROCESS_SUITE = """
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone


def test_the_clock_moves_in_process(ota_live_server, ota_clock):
    ota_clock.advance(days=1)

    assert timezone.now() - datetime.now(UTC) > timedelta(hours=23)


def test_and_is_back_after_the_test():
    assert abs(timezone.now() - datetime.now(UTC)) < timedelta(minutes=1)
    assert settings.OTA_TEST_CLOCK is False
"""


def test_in_process_the_clock_is_the_tests_own_and_settings_are_untouched(suite):
    suite.files(
        **{"pytest.ini": "[pytest]\nDJANGO_SETTINGS_MODULE = ota.settings\n"},
        conftest="import pytest\n\n\n@pytest.fixture\ndef ota_server(ota_live_server):\n"
        "    return ota_live_server\n",
        test_clock=IN_PROCESS_SUITE,
    )

    result = suite.run("-p", "no:randomly")

    result.assert_outcomes(passed=2)
