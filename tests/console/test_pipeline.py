import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from rollouts.models import Channel, Rollout
from rollouts.services import counters
from rollouts.services.rollouts import rollout_advance
from tests.console.test_dashboard import text_of

pytestmark = pytest.mark.django_db


def _row(page, version: str) -> str:
    html = page.content.decode()
    return html.split(f'data-release="{version}"')[1].split("</tr>")[0]


def test_a_release_is_shown_on_each_channel_with_its_state_and_its_next_step(
    staff, running, approver_api
):
    on_dev = running("2026.70", channel="dev")
    rollout_advance(rollout=on_dev, actor=None, reason="test")
    rollout_advance(rollout=Rollout.objects.get(pk=on_dev.pk), actor=None, reason="test")
    rollout_advance(rollout=Rollout.objects.get(pk=on_dev.pk), actor=None, reason="test")
    assert Rollout.objects.get(pk=on_dev.pk).status == "completed"
    # Then started on beta with an override (the fixture's way), running in its first stage.
    on_beta = running("2026.71", channel="beta")
    counters.count(rollout_id=on_beta.pk, stage_index=0, treated_seconds=7200)

    page = staff("rita", "release engineer").get("/admin/pipeline/")
    assert page.status_code == 200
    row = text_of(_row(page, "2026.70"))
    assert "completed" in row
    # forever-beta is next: a promotion gate of 100 h of exposure on it and nothing yet.
    assert "Roll out to forever-beta" in row

    row = text_of(_row(page, "2026.71"))
    assert "running in stage 1 of 3 (10 %)" in row
    assert "2 h driven" in row
    assert "Open the rollout on beta" in row


def test_the_next_step_of_a_draft_rollout_is_an_approval_by_someone_else(
    staff, publish, engineer_api, approver_api
):
    bundle, _ = publish()
    release = engineer_api.post(
        "/api/v1/manage/releases", {"version": "2026.72", "bundles": [bundle.pk]}, format="json"
    ).json()
    approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
    rollout = engineer_api.post(
        "/api/v1/manage/rollouts", {"release": release["id"], "channel": "dev"}, format="json"
    ).json()

    engineer_page = staff("rita", "release engineer").get("/admin/pipeline/")
    assert "Approve on dev" not in text_of(_row(engineer_page, "2026.72"))
    approver = staff("ada2", "approver")
    row = _row(approver.get("/admin/pipeline/"), "2026.72")
    assert "Approve on dev" in text_of(row)
    assert 'name="action" value="approve"' in row

    # The button leads to the same confirmation as the rollout's own page; confirming approves.
    approver.post(
        "/admin/rollouts/rollout/",
        {"action": "approve", ACTION_CHECKBOX_NAME: [rollout["id"]], "confirm": "yes"},
    )
    assert Rollout.objects.get(pk=rollout["id"]).status == "approved"


def test_rolling_out_from_the_pipeline_opens_the_form_with_release_and_channel_chosen(
    staff, running
):
    done = running("2026.73", channel="dev")
    for _ in range(3):
        rollout_advance(rollout=Rollout.objects.get(pk=done.pk), actor=None, reason="test")
    client = staff("rita", "release engineer")
    row = _row(client.get("/admin/pipeline/"), "2026.73")
    link = row.split('href="')[-1].split('"')[0].replace("&amp;", "&")
    form = client.get(link).content.decode()
    assert f'<option value="{done.release_id}" selected>' in form
    assert "selected>forever-beta</option>" in form


def test_the_pipeline_is_for_people_who_may_see_rollouts(client, staff):
    assert client.get("/admin/pipeline/").status_code == 302
    assert staff("nobody").get("/admin/pipeline/").status_code == 403


def test_the_rollout_form_is_filled_with_the_channels_plan_and_the_default_policy(staff, running):
    done = running("2026.74", channel="dev")
    client = staff("rita", "release engineer")
    beta = Channel.objects.get(name="beta")
    form = client.get(
        f"/admin/rollouts/rollout/create/?release={done.release_id}&channel={beta.pk}"
    ).content.decode()
    assert "10, 240, auto, 2880\n50, 480, auto, 4320\n100, 720, auto, 4320</textarea>" in form
    assert 'name="max_failure_rate" value="0.02"' in form
    assert "rollouts/rollout_form.js" in form  # fills in another channel's plan when chosen


def test_an_engineer_creates_a_rollout_with_their_own_plan_and_policy(staff, running):
    done = running("2026.75", channel="dev")
    beta = Channel.objects.get(name="beta")
    client = staff("rita", "release engineer")
    form = {"release": done.release_id, "channel": beta.pk}

    refused = client.post("/admin/rollouts/rollout/create/", {**form, "stages": "5, 60\n50, 60"})
    assert "the last stage must reach 100 percent" in refused.content.decode()
    assert not Rollout.objects.filter(channel=beta).exists()

    made = client.post(
        "/admin/rollouts/rollout/create/",
        {**form, "stages": "5, 60, manual\n100, 120", "max_failure_rate": "0.05"},
    )
    assert made.status_code == 302
    rollout = Rollout.objects.get(channel=beta)
    assert [(s["percent"], s["gate"]) for s in rollout.stages] == [(5, "manual"), (100, "auto")]
    assert rollout.policy["max_failure_rate"] == 0.05
    assert rollout.policy["min_finished"] == 50  # left as the default
