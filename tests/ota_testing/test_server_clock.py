"""The movable clock exists only where a test server switched it on."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ota import server_clock
from ota.checks import check_production_parts
from ota_testing.fleet import every_share


def test_check_deploy_refuses_a_server_whose_clock_tests_may_move(settings):
    settings.OTA_TEST_CLOCK = True

    problems = check_production_parts()

    assert "ota.E006" in {problem.id for problem in problems}


def test_a_server_without_the_setting_has_no_clock_url(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone"))

    answer = client.post("/api/v1/testing/clock", {"seconds": 60}, content_type="application/json")

    assert answer.status_code == 404


def test_the_test_server_command_refuses_to_run_without_the_setting(tmp_path):
    with pytest.raises(CommandError, match="OTA_TEST_CLOCK"):
        call_command("ota_testserver", "--ready-file", str(tmp_path / "ready.json"))


def test_the_clock_never_moves_back_nor_leaps_past_a_year():
    with pytest.raises(ValueError):
        server_clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        server_clock.advance(timedelta(days=367))
    assert server_clock.offset() == timedelta(0)


@pytest.mark.parametrize(("share", "asked", "picked"), [(0.25, 8, 2), (0.5, 40, 20), (0, 9, 0)])
def test_a_share_picks_exactly_that_share_spread_evenly(share, asked, picked):
    pick = every_share(share)

    picks = [pick(None) for _ in range(asked)]

    assert sum(picks) == picked
    if share == 0.25:
        assert picks == [False, False, False, True] * 2
