import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from rollouts.models import ChannelChange, Release, Rollout, Vehicle

pytestmark = pytest.mark.django_db


def test_an_engineer_creates_a_release_and_an_approver_approves_it(staff, publish):
    bundle, _ = publish()
    engineer = staff("erin", "release engineer")
    response = engineer.post(
        "/admin/rollouts/release/create/",
        {
            "version": "7.4.0",
            "notes": "fixes",
            "bundles": [bundle.pk],
            "models": "Aurora, Ember",
            "regions": ["EU"],
        },
    )
    assert response.status_code == 302
    release = Release.objects.get()
    assert (release.model_names, release.regions) == (["Aurora", "Ember"], ["EU"])

    form = {"action": "approve", ACTION_CHECKBOX_NAME: [release.pk], "confirm": "yes"}
    approver = staff("ada", "approver")
    approver.post("/admin/rollouts/release/", form)
    release.refresh_from_db()
    assert release.status == "approved"


def test_approving_your_own_release_in_the_admin_is_refused(staff, publish):
    bundle, _ = publish()
    both = staff("sol", "release engineer", "approver")
    both.post("/admin/rollouts/release/create/", {"version": "7.4.0", "bundles": [bundle.pk]})
    release = Release.objects.get()
    response = both.post(
        "/admin/rollouts/release/",
        {"action": "approve", ACTION_CHECKBOX_NAME: [release.pk], "confirm": "yes"},
        follow=True,
    )
    assert "someone other than the author" in response.content.decode()
    assert Release.objects.get().status == "draft"


def test_a_release_form_explains_a_refusal(staff, publish):
    first, _ = publish(hardware_id="hu-gen7")
    second, _ = publish(hardware_id="hu-gen7")
    engineer = staff("erin", "release engineer")
    response = engineer.post(
        "/admin/rollouts/release/create/", {"version": "x", "bundles": [first.pk, second.pk]}
    )
    assert response.status_code == 200
    assert "at most one bundle per hardware id" in response.content.decode()


def test_rollout_actions_ask_for_a_reason_and_act(staff, ship, publish):
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    engineer = staff("erin2", "release engineer")
    form = {"action": "halt", ACTION_CHECKBOX_NAME: [rollout_id]}
    page = engineer.post("/admin/rollouts/rollout/", form)
    assert b"Yes, halt rollouts" in page.content
    engineer.post("/admin/rollouts/rollout/", {**form, "confirm": "yes", "reason": "crash spike"})
    assert Rollout.objects.get().status == "halted"
    listing = engineer.get("/admin/rollouts/rollout/").content.decode()
    assert "halted" in listing.lower()


def buttons(page) -> list[str]:
    return re.findall(r'name="action" value="(\w+)"', page.content.decode())


def test_a_rollouts_page_offers_a_button_for_each_action_its_state_allows(staff, ship, publish):
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    page_url = f"/admin/rollouts/rollout/{rollout_id}/change/"
    engineer = staff("erin2", "release engineer")
    assert buttons(engineer.get(page_url)) == ["pause", "advance", "halt", "abort"]

    # One click on Halt: the confirmation asks for a reason; confirmed, the page explains it.
    form = {"action": "halt", ACTION_CHECKBOX_NAME: [rollout_id]}
    assert b"Yes, halt rollouts" in engineer.post("/admin/rollouts/rollout/", form).content
    engineer.post("/admin/rollouts/rollout/", {**form, "confirm": "yes", "reason": "crash spike"})
    page = engineer.get(page_url)
    assert buttons(page) == ["resume", "abort", "revert"]
    assert "Halted by erin2: crash spike" in page.content.decode()

    # Resuming shows why it stopped before asking for the reason to go on.
    resume = engineer.post("/admin/rollouts/rollout/", {**form, "action": "resume"})
    assert "Halted by erin2: crash spike" in resume.content.decode()


def test_a_person_without_the_permission_sees_no_buttons(staff, ship, publish):
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    viewer = staff("kim", "key custodian")  # may look, not operate
    assert buttons(viewer.get(f"/admin/rollouts/rollout/{rollout_id}/change/")) == []


def test_staff_move_a_vehicle_to_forever_beta_with_the_drivers_consent(staff, provision):
    body, _ = provision()
    vehicle = Vehicle.objects.get(vin=body["vin"])
    engineer = staff("erin3", "release engineer")
    form = {
        "action": "move_to_channel",
        ACTION_CHECKBOX_NAME: [vehicle.pk],
        "confirm": "yes",
        "channel": "forever-beta",
        "consent_by": "owner at the service desk",
        "terms_version": "2026-01",
    }
    engineer.post("/admin/rollouts/vehicle/", form)
    vehicle.refresh_from_db()
    assert vehicle.channel.name == "forever-beta"
    change = ChannelChange.objects.get()
    assert (change.via, change.consent_by) == ("admin", "owner at the service desk")


def test_a_halted_rollout_page_explains_the_halt(admin_client, ship, publish, engineer_api):
    bundle, _ = publish()
    _, rollout_id = ship([bundle], "dev")
    engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/evaluate")
    engineer_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/halt", {"reason": "crash spike"}, format="json"
    )
    html = admin_client.get(f"/admin/rollouts/rollout/{rollout_id}/change/").content.decode()
    assert "Halted by erin: crash spike" in html  # the engineer fixture, as a sentence
    assert "stage 1: wait" in html  # stages are counted from 1 for people, as in halts
    assert admin_client.get("/admin/rollouts/evaluation/").status_code == 200


def test_the_new_admin_pages_load(admin_client, ship, publish):
    bundle, _ = publish()
    ship([bundle], "dev")
    for url in [
        "/admin/rollouts/release/",
        "/admin/rollouts/rollout/",
        "/admin/rollouts/release/create/",
        "/admin/rollouts/rollout/create/",
        "/admin/rollouts/assignment/",
        "/admin/rollouts/installevent/",
        "/admin/rollouts/healthwindow/",
        "/admin/rollouts/installedchange/",
        "/admin/rollouts/manifestproblem/",
        "/admin/rollouts/channelchange/",
        f"/admin/rollouts/release/{Release.objects.get().pk}/change/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_a_rollout_page_says_when_cars_may_install_and_the_list_counts_who_waits(
    staff, ship, publish
):
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], install_policy={"windows": [{"start": "01:00", "end": "05:00"}]})
    client = staff("rita", "release engineer")

    page = client.get(f"/admin/rollouts/rollout/{rollout_id}/change/").content.decode()
    listing = client.get("/admin/rollouts/rollout/").content.decode()

    assert "Cars install at 01:00–05:00 daily (the car&#x27;s local time)." in page
    assert "column-deferred" in listing


def test_a_recalls_page_shows_each_market_against_the_deadline(staff, ship, publish, provision):
    for region in ("EU", "EU", "US"):
        provision(region=region)
    bundle, _ = publish(hardware_id="hu-gen7")
    recall = {"urgency": "safety_recall", "deadline": "2020-01-31T00:00:00Z"}  # long past
    _, rollout_id = ship([bundle], install_policy=recall)
    client = staff("rita", "release engineer")

    page = client.get(f"/admin/rollouts/rollout/{rollout_id}/change/").content.decode()

    assert "due 2020-01-31 00:00 UTC" in page and " ago" in page
    assert "<td>EU</td><td>2</td><td>0</td><td>2</td>" in page
    assert "<td>US</td><td>1</td><td>0</td><td>1</td>" in page
    assert page.count('style="color: var(--error-fg)"') == 2  # late in both markets
