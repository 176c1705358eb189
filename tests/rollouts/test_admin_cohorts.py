"""Cohorts in the admin: create, fill from the fleet list, edit, and refuse what would harm."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from rollouts.models import Cohort, CohortMember, Rollout, Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def erin(client, engineer):
    """The release engineer of the API fixtures, signed in to the admin."""
    engineer.is_staff = True
    engineer.save()
    client.force_login(engineer)
    return client


def test_an_engineer_creates_a_filter_cohort_and_sees_who_is_in(erin, provision):
    provision(region="EU")
    provision(region="US")

    created = erin.post(
        "/admin/rollouts/cohort/create/",
        {
            "name": "eu-cars",
            "kind": "filter",
            "regions": ["EU"],
            "installed": '[{"hardware_id": "hu-gen7", "max_counter": 0}]',
        },
    )

    assert created.status_code == 302, created.content.decode()[-2000:]
    cohort = Cohort.objects.get()
    page = erin.get(f"/admin/rollouts/cohort/{cohort.pk}/change/").content.decode()
    eu_vin = Vehicle.objects.get(region="EU").vin
    assert eu_vin in page
    assert Vehicle.objects.get(region="US").vin not in page
    assert "Change description or filter" in page


def test_a_bad_filter_is_explained_on_the_form(erin):
    page = erin.post(
        "/admin/rollouts/cohort/create/",
        {"name": "x", "kind": "filter", "installed": '[{"hardware_id": "hu-gen7"}]'},
    )
    assert page.status_code == 200
    assert "give versions, min_counter or max_counter" in page.content.decode()
    assert not Cohort.objects.exists()


def test_vehicles_ticked_in_the_fleet_list_join_a_static_cohort(erin, provision):
    vins = [provision()[0]["vin"] for _ in range(3)]
    erin.post("/admin/rollouts/cohort/create/", {"name": "test-fleet", "kind": "static"})
    ticked = list(Vehicle.objects.filter(vin__in=vins[:2]).values_list("pk", flat=True))
    form = {"action": "add_to_cohort", ACTION_CHECKBOX_NAME: ticked}

    asked = erin.post("/admin/rollouts/vehicle/", form)
    erin.post("/admin/rollouts/vehicle/", {**form, "confirm": "yes", "cohort": "test-fleet"})

    assert b"Add vehicles to a static cohort" in asked.content
    assert set(CohortMember.objects.values_list("vehicle__vin", flat=True)) == set(vins[:2])


def test_vins_pasted_into_a_static_cohort_are_added_all_or_nothing(erin, provision):
    vins = [provision()[0]["vin"] for _ in range(2)]
    erin.post("/admin/rollouts/cohort/create/", {"name": "test-fleet", "kind": "static"})
    cohort = Cohort.objects.get()
    form = {"action": "add_vehicles", ACTION_CHECKBOX_NAME: [cohort.pk], "confirm": "yes"}

    refused = erin.post(
        "/admin/rollouts/cohort/", {**form, "vins": f"{vins[0]}\n1HGCM82633A004352"}, follow=True
    )
    assert "not provisioned" in refused.content.decode()
    assert not CohortMember.objects.exists()

    erin.post("/admin/rollouts/cohort/", {**form, "vins": "\n".join(vins)})
    assert CohortMember.objects.count() == 2


def test_the_filter_of_a_cohort_in_use_cannot_change_but_its_description_can(
    erin, publish, ship, engineer_api
):
    engineer_api.post(
        "/api/v1/manage/cohorts", {"name": "eu", "kind": "filter", "regions": ["EU"]}, format="json"
    )
    bundle, _ = publish()
    ship([bundle], cohort="eu")
    cohort = Cohort.objects.get()

    refused = erin.post(
        f"/admin/rollouts/cohort/{cohort.pk}/edit/", {"regions": ["US"], "description": ""}
    )
    described = erin.post(
        f"/admin/rollouts/cohort/{cohort.pk}/edit/", {"regions": ["EU"], "description": "EU"}
    )

    assert "relies on this cohort" in refused.content.decode()
    assert described.status_code == 302
    cohort.refresh_from_db()
    assert (cohort.regions, cohort.description) == (["EU"], "EU")


def test_a_rollout_created_in_the_admin_can_be_narrowed_to_a_cohort(erin, publish, ship):
    erin.post("/admin/rollouts/cohort/create/", {"name": "test-fleet", "kind": "static"})
    bundle, _ = publish()
    release_id, _ = ship([bundle], "dev")

    erin.post(
        "/admin/rollouts/rollout/create/",
        {
            "release": release_id,
            "channel": Rollout.objects.get().channel_id + 1,
            "cohort": Cohort.objects.get().pk,
        },
    )

    narrowed = Rollout.objects.exclude(cohort=None).get()
    assert narrowed.cohort.name == "test-fleet"
    page = erin.get(f"/admin/rollouts/rollout/{narrowed.pk}/change/").content.decode()
    assert "test-fleet" in page


def test_a_cohort_a_rollout_used_cannot_be_deleted(erin, publish, ship):
    erin.post("/admin/rollouts/cohort/create/", {"name": "test-fleet", "kind": "static"})
    bundle, _ = publish()
    ship([bundle], cohort="test-fleet")
    cohort = Cohort.objects.get()

    erin.post(f"/admin/rollouts/cohort/{cohort.pk}/delete/", {"post": "yes"})

    assert Cohort.objects.filter(pk=cohort.pk).exists()
