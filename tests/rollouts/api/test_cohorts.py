"""Cohorts through the management API: static lists and filters, kept honest and audited."""

import pytest

from audit.models import AuditEvent
from rollouts.models import Cohort, CohortMember
from tests.factories import make_vin

pytestmark = pytest.mark.django_db

URL = "/api/v1/manage/cohorts"


def create(api, **body):
    return api.post(URL, {"name": "test-fleet", "kind": "static", **body}, format="json")


def test_a_static_cohort_lists_provisioned_vehicles(engineer_api, provision):
    vins = [provision()[0]["vin"] for _ in range(3)]
    assert create(engineer_api, description="Engineering cars").status_code == 201

    added = engineer_api.post(f"{URL}/test-fleet/members", {"vins": vins[:2]}, format="json")

    assert added.json() == {"changed": 2, "unchanged": 0, "size": 2}
    listed = engineer_api.get(f"{URL}/test-fleet/members").json()["results"]
    assert sorted(m["vin"] for m in listed) == sorted(vins[:2])
    assert engineer_api.get(f"{URL}/test-fleet").json()["size"] == 2


def test_adding_members_twice_changes_nothing_the_second_time(engineer_api, provision):
    vin = provision()[0]["vin"]
    create(engineer_api)
    engineer_api.post(f"{URL}/test-fleet/members", {"vins": [vin]}, format="json")

    again = engineer_api.post(f"{URL}/test-fleet/members", {"vins": [vin]}, format="json")

    assert again.json() == {"changed": 0, "unchanged": 1, "size": 1}
    assert AuditEvent.objects.filter(action="cohort.members_added").count() == 1


def test_an_unknown_vin_adds_nobody(engineer_api, provision):
    known = provision()[0]["vin"]
    stranger = make_vin()
    create(engineer_api)

    refused = engineer_api.post(
        f"{URL}/test-fleet/members", {"vins": [known, stranger]}, format="json"
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_vins"
    assert refused.json()["error"]["detail"]["vins"] == [stranger]
    assert not CohortMember.objects.exists()


def test_members_can_be_removed_and_each_change_is_audited_with_its_vins(engineer_api, provision):
    vins = sorted(provision()[0]["vin"] for _ in range(2))
    create(engineer_api)
    engineer_api.post(f"{URL}/test-fleet/members", {"vins": vins}, format="json")

    removed = engineer_api.post(
        f"{URL}/test-fleet/members/remove", {"vins": [vins[0]]}, format="json"
    )

    assert removed.json() == {"changed": 1, "unchanged": 0, "size": 1}
    audit = AuditEvent.objects.get(action="cohort.members_removed")
    assert audit.data == {"count": 1, "vins": [vins[0]]}
    assert AuditEvent.objects.get(action="cohort.members_added").data["vins"] == vins


def test_a_filter_cohort_selects_by_model_region_hardware_and_installed_version(
    engineer_api, provision
):
    provision(model="Aurora", region="EU")
    provision(model="Ember", region="EU")
    provision(model="Aurora", region="US")

    created = engineer_api.post(
        URL,
        {
            "name": "eu-auroras-on-old-firmware",
            "kind": "filter",
            "models": ["Aurora"],
            "regions": ["EU"],
            "installed": [{"hardware_id": "hu-gen7", "max_counter": 699}],
        },
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["size"] == 1
    assert created.json()["installed"] == [
        {"hardware_id": "hu-gen7", "versions": [], "min_counter": None, "max_counter": 699}
    ]


def test_a_filter_cohort_has_no_list_of_members(engineer_api, provision):
    vin = provision()[0]["vin"]
    engineer_api.post(URL, {"name": "eu", "kind": "filter", "regions": ["EU"]}, format="json")

    refused = engineer_api.post(f"{URL}/eu/members", {"vins": [vin]}, format="json")

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "cohort_not_static"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "filter"}, "kind"),
        ({"kind": "static", "regions": ["EU"]}, "kind"),
        ({"kind": "filter", "regions": ["MARS"]}, "regions"),
        ({"kind": "filter", "installed": [{"hardware_id": "hu-gen7"}]}, "installed[0]"),
        (
            {
                "kind": "filter",
                "installed": [{"hardware_id": "hu", "min_counter": 9, "max_counter": 1}],
            },
            "installed[0]",
        ),
        ({"kind": "filter", "installed": [{"hardware_id": "hu", "color": "red"}]}, "installed[0]"),
        ({"kind": "filter", "hardware_ids": ["bad id!"]}, "hardware_ids[0]"),
        (
            {"kind": "filter", "installed": [{"hardware_id": "hu-gen7\n", "versions": ["1"]}]},
            "installed[0]",
        ),
    ],
    ids=[
        "empty filter",
        "static with a filter",
        "unknown region",
        "installed rule without a condition",
        "min above max",
        "unknown field in a rule",
        "bad hardware id",
        "hardware id with a newline after it",
    ],
)
def test_an_invalid_cohort_is_refused_with_the_field_named(engineer_api, body, field):
    refused = engineer_api.post(URL, {"name": "bad", **body}, format="json")

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_cohort"
    assert field in refused.json()["error"]["detail"]
    assert not Cohort.objects.exists()


def test_names_are_unique_and_url_safe(engineer_api):
    create(engineer_api)
    assert create(engineer_api).json()["error"]["code"] == "cohort_exists"
    assert create(engineer_api, name="Not A Slug").status_code == 400


def test_the_definition_is_locked_while_a_rollout_relies_on_it(engineer_api, publish, ship):
    engineer_api.post(URL, {"name": "eu", "kind": "filter", "regions": ["EU"]}, format="json")
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], cohort="eu")

    changed = engineer_api.patch(f"{URL}/eu", {"regions": ["US"]}, format="json")
    deleted = engineer_api.delete(f"{URL}/eu")
    described = engineer_api.patch(f"{URL}/eu", {"description": "EU cars"}, format="json")
    as_it_is = engineer_api.patch(f"{URL}/eu", {"regions": ["EU"]}, format="json")

    assert changed.status_code == 409 and changed.json()["error"]["code"] == "cohort_in_use"
    assert deleted.status_code == 409
    assert described.status_code == 200
    assert as_it_is.status_code == 200  # the same filter again changes nothing
    assert Cohort.objects.get().regions == ["EU"]


def test_an_unused_cohort_can_change_and_go_with_an_audit_row_each(engineer_api):
    engineer_api.post(URL, {"name": "eu", "kind": "filter", "regions": ["EU"]}, format="json")

    changed = engineer_api.patch(f"{URL}/eu", {"regions": ["US", "EU"]}, format="json")
    deleted = engineer_api.delete(f"{URL}/eu")

    assert changed.json()["regions"] == ["EU", "US"]
    assert deleted.status_code == 204
    assert list(
        AuditEvent.objects.order_by("pk")
        .values_list("action", flat=True)
        .filter(action__startswith="cohort.")
    ) == ["cohort.created", "cohort.changed", "cohort.deleted"]
    changed_row = AuditEvent.objects.get(action="cohort.changed")
    assert changed_row.data["from"]["regions"] == ["EU"]
    assert changed_row.data["to"]["regions"] == ["EU", "US"]


def test_a_rollout_names_an_existing_cohort(engineer_api, approver_api, publish, ship):
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id, rollout_id = ship([bundle])

    refused = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": release_id, "channel": "beta", "cohort": "nobody-made-this"},
        format="json",
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_cohort"
    assert engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}").json()["cohort"] is None


def test_an_approver_reads_cohorts_but_does_not_make_them(approver_api, engineer_api):
    create(engineer_api)
    assert approver_api.get(f"{URL}/test-fleet").status_code == 200
    assert create(approver_api, name="other").status_code == 403
    assert approver_api.delete(f"{URL}/test-fleet").status_code == 403


def test_an_unknown_cohort_is_a_json_404(engineer_api):
    missing = engineer_api.get(f"{URL}/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "cohort_not_found"


def test_a_list_of_vins_over_the_limit_is_refused(engineer_api):
    create(engineer_api)
    too_many = [make_vin() for _ in range(10_001)]
    refused = engineer_api.post(f"{URL}/test-fleet/members", {"vins": too_many}, format="json")
    assert refused.status_code == 400
    assert "vins" in refused.json()["error"]["detail"]
    assert not CohortMember.objects.exists()
