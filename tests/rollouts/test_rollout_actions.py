"""One table of rollout actions serves the API and the admin (services/rollout_actions.py)."""

import pytest

from rollouts.models import Rollout
from rollouts.services.rollout_actions import ROLLOUT_ACTIONS, rollout_actions_allowed

pytestmark = pytest.mark.django_db


def names(rollout) -> list[str]:
    return [action.name for action in rollout_actions_allowed(rollout)]


def test_each_state_offers_only_the_actions_that_can_work(publish, ship):
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    rollout = Rollout.objects.get(pk=rollout_id)
    assert names(rollout) == ["pause", "advance", "halt", "abort"]
    for status, expected in {
        "draft": ["approve", "abort"],
        "approved": ["start", "abort"],
        "paused": ["resume", "halt", "abort"],
        "halted": ["resume", "abort", "revert"],
        "completed": [],
        "aborted": [],
    }.items():
        rollout.status = status
        assert names(rollout) == expected, status


def test_the_api_and_the_admin_offer_the_same_actions(client):
    from rollouts.admin.releases import RolloutAdmin

    api = {
        name
        for name in ROLLOUT_ACTIONS
        if client.options(f"/api/v1/manage/rollouts/1/{name}").status_code != 404
    }
    assert api == set(ROLLOUT_ACTIONS)
    assert [a.__name__ for a in RolloutAdmin.actions] == list(ROLLOUT_ACTIONS)


def test_an_action_is_refused_to_someone_without_its_permission_whoever_calls_it(
    publish, ship, make_user
):
    from ota.errors import Forbidden

    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    custodian = make_user("kim", "key custodian")

    with pytest.raises(Forbidden) as refused:
        ROLLOUT_ACTIONS["halt"].perform(Rollout.objects.get(pk=rollout_id), custodian, reason="x")

    assert refused.value.code == "permission_denied"
    assert Rollout.objects.get(pk=rollout_id).status == "running"
