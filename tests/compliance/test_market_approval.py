"""A release that targets a market needing type approval reaches no car there until a
homologation engineer (not its author) approves it for that market with an impact
assessment of each vehicle type; a rollout with no approved market cannot start."""

import pytest

from audit.models import AuditEvent
from compliance.models import RxswinEntry
from tests.conftest import ALL_AT_ONCE

pytestmark = pytest.mark.django_db


def _release(engineer_api, approver_api, bundle, regions=("EU", "CN")):
    created = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "9.1.0", "bundles": [bundle.pk], "regions": list(regions)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    release_id = created.json()["id"]
    assert approver_api.post(f"/api/v1/manage/releases/{release_id}/approve").status_code == 200
    return release_id


def _rollout(engineer_api, approver_api, release_id, regions):
    created = engineer_api.post(
        "/api/v1/manage/rollouts",
        {"release": release_id, "channel": "stable", "stages": ALL_AT_ONCE, "regions": regions},
        format="json",
    )
    assert created.status_code == 201, created.json()
    rollout_id = created.json()["id"]
    assert approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/approve").status_code == 200
    return rollout_id


def _start(approver_api, rollout_id):
    return approver_api.post(
        f"/api/v1/manage/rollouts/{rollout_id}/start",
        {"override_reason": "test: straight to stable"},
        format="json",
    )


UNAFFECTED = {
    "model": "Aurora",
    "affects_type_approval": False,
    "rationale": "Infotainment only; no approved system changes.",
}


def test_a_rollout_cannot_start_in_a_market_before_its_approval_with_an_assessment(
    type_approval, publish, car, engineer_api, approver_api, homologation_api
):
    eu, cn = car(region="EU"), car(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)
    cn_only = _rollout(engineer_api, approver_api, release_id, ["CN"])

    refused = _start(approver_api, cn_only)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "market_approval_missing"
    assert refused.json()["error"]["detail"]["markets"] == ["CN"]

    markets = {
        m["market"]: m
        for m in engineer_api.get(f"/api/v1/manage/releases/{release_id}/markets").json()
    }
    assert markets["CN"]["type_approval"] == "awaiting"
    assert markets["CN"]["vehicle_types"] == ["Aurora"]  # what an approval must assess

    approved = homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/CN/approve",
        {"assessments": [UNAFFECTED]},
        format="json",
    )
    assert approved.status_code == 201, approved.json()
    assert _start(approver_api, cn_only).status_code == 200
    assert cn.poll_cycle().installed
    assert eu.poll_cycle().offered == []  # this rollout is for CN only
    event = AuditEvent.objects.get(action="release.market_approved")
    assert event.actor.username == "hana" and event.data["market"] == "CN"


def test_a_rollout_over_two_markets_runs_in_the_approved_one_and_joins_the_other_on_approval(
    type_approval, publish, car, engineer_api, approver_api, homologation_api
):
    eu, cn = car(region="EU"), car(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)
    both = _rollout(engineer_api, approver_api, release_id, ["EU", "CN"])
    homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/EU/approve",
        {"assessments": [UNAFFECTED]},
        format="json",
    )

    assert _start(approver_api, both).status_code == 200
    detail = approver_api.get(f"/api/v1/manage/rollouts/{both}").json()
    assert detail["awaiting_type_approval"] == ["CN"]
    assert eu.poll_cycle().installed
    assert cn.poll_cycle().offered == []  # CN has not approved it: not offered there

    homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/CN/approve",
        {"assessments": [UNAFFECTED]},
        format="json",
    )

    assert cn.poll_cycle().installed  # the approval moved the CN cars' decision
    assert (
        approver_api.get(f"/api/v1/manage/rollouts/{both}").json()["awaiting_type_approval"] == []
    )


def test_an_assessment_must_cover_each_vehicle_type_and_name_the_new_rxswin_when_affected(
    type_approval, publish, car, engineer_api, approver_api, homologation_api
):
    car(region="CN", model="Aurora")
    car(region="CN", model="Borealis")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)
    url = f"/api/v1/manage/releases/{release_id}/markets/CN/approve"

    incomplete = homologation_api.post(
        url,
        {"assessments": [{"model": "Aurora", "affects_type_approval": True, "rationale": "ADAS"}]},
        format="json",
    )

    assert incomplete.status_code == 400
    problems = incomplete.json()["error"]["detail"]
    assert problems == {
        "Aurora": ["An update that affects type approval needs the new RXSWIN."],
        "Borealis": ["Not assessed."],
    }
    complete = homologation_api.post(
        url,
        {
            "assessments": [
                {
                    "model": "Aurora",
                    "affects_type_approval": True,
                    "rationale": "Lane keeping assist (UN R79) calibration changes.",
                    "new_rxswin": "R79-AUR-CN-0002",
                },
                {**UNAFFECTED, "model": "Borealis"},
            ]
        },
        format="json",
    )
    assert complete.status_code == 201, complete.json()
    entry = RxswinEntry.objects.get(model="Aurora", market="CN")
    assert entry.rxswin == "R79-AUR-CN-0002" and entry.release_id == release_id


def test_an_assessment_that_sets_the_read_only_rxswin_before_is_refused_not_ignored(
    type_approval, publish, car, engineer_api, approver_api, homologation_api
):
    car(region="CN", model="Aurora")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)

    answer = homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/CN/approve",
        {"assessments": [{**UNAFFECTED, "rxswin_before": "R10-FORGED"}]},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["detail"]["assessments"] == {
        "0": {"rxswin_before": ["Read-only: set by the server."]}
    }
    assert not RxswinEntry.objects.filter(rxswin="R10-FORGED").exists()


def test_only_a_homologation_engineer_other_than_the_author_approves_a_market(
    type_approval, publish, car, engineer, engineer_api, approver_api, homologation_api
):
    from django.contrib.auth.models import Group

    car(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)
    url = f"/api/v1/manage/releases/{release_id}/markets/CN/approve"
    body = {"assessments": [UNAFFECTED]}

    assert approver_api.post(url, body, format="json").status_code == 403  # not homologation
    engineer.groups.add(Group.objects.get(name="homologation"))
    own = engineer_api.post(url, body, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_approval"
    assert (
        homologation_api.post(
            f"/api/v1/manage/releases/{release_id}/markets/US/approve", body, format="json"
        ).json()["error"]["code"]
        == "market_not_targeted"
    )
    assert homologation_api.post(url, body, format="json").status_code == 201
    again = homologation_api.post(url, body, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "market_approved_already"


def test_a_draft_release_is_not_approved_for_a_market_before_its_four_eyes_approval(
    type_approval, publish, car, engineer_api, homologation_api
):
    car(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    draft = engineer_api.post(
        "/api/v1/manage/releases",
        {"version": "9.2.0", "bundles": [bundle.pk], "regions": ["CN"]},
        format="json",
    ).json()

    answer = homologation_api.post(
        f"/api/v1/manage/releases/{draft['id']}/markets/CN/approve",
        {"assessments": [UNAFFECTED]},
        format="json",
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "release_not_approved"


def test_the_register_refuses_an_unknown_market_a_malformed_rxswin_and_a_second_entry(
    homologation_api,
):
    def register(**overrides):
        body = {"model": "Aurora", "market": "EU", "rxswin": "R156-AUR-EU-0001", **overrides}
        return homologation_api.post("/api/v1/manage/rxswins", body, format="json")

    assert register(market="XX").json()["error"]["code"] == "unknown_market"
    assert register(rxswin="R156!").json()["error"]["code"] == "invalid_rxswin"
    assert register().status_code == 201
    again = register()
    assert again.status_code == 409 and again.json()["error"]["code"] == "rxswin_registered"
    listed = homologation_api.get("/api/v1/manage/rxswins?market=EU").json()
    assert [e["rxswin"] for e in listed] == ["R156-AUR-EU-0001"]


@pytest.mark.parametrize("value", [" R156-AUR-EU-0001", "R156-AUR-EU-0001 ", "R156-AUR-EU-0001\n"])
def test_the_register_refuses_an_rxswin_with_spaces_around_it_naming_the_field(
    homologation_api, value
):
    answer = homologation_api.post(
        "/api/v1/manage/rxswins",
        {"model": "Aurora", "market": "EU", "rxswin": value},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_rxswin"
    assert answer.json()["error"]["detail"] == {"rxswin": value}
    assert not RxswinEntry.objects.exists()  # not stored trimmed either


def test_an_assessment_refuses_a_new_rxswin_with_spaces_around_it(
    type_approval, publish, car, engineer_api, approver_api, homologation_api
):
    car(region="CN", model="Aurora")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)
    affected = {
        "model": "Aurora",
        "affects_type_approval": True,
        "rationale": "Lane keeping assist (UN R79) calibration changes.",
    }

    answer = homologation_api.post(
        f"/api/v1/manage/releases/{release_id}/markets/CN/approve",
        {"assessments": [{**affected, "new_rxswin": " R79-AUR-CN-0002"}]},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_assessment"
    (problem,) = answer.json()["error"]["detail"]["Aurora"]
    assert problem.startswith("new_rxswin is not an RXSWIN")
    assert not RxswinEntry.objects.exists()


def test_the_admin_forms_refuse_an_rxswin_with_spaces_around_it_too(
    type_approval, publish, car, engineer_api, approver_api, staff
):
    client = staff("hana", "homologation")
    registered = client.post(
        "/admin/compliance/rxswinentry/add/",
        {"model": "Aurora", "market": "EU", "rxswin": "R156-AUR-EU-0001 "},
    )
    assert registered.status_code == 200 and "An RXSWIN is 1 to 64" in registered.content.decode()
    car(region="CN", model="Aurora")
    bundle, _ = publish(hardware_id="hu-gen7")
    release_id = _release(engineer_api, approver_api, bundle)

    approved = client.post(
        f"/admin/compliance/marketapproval/approve/{release_id}/CN/",
        {
            "affects__Aurora": "on",
            "rationale__Aurora": "Lane keeping calibration.",
            "new_rxswin__Aurora": " R156-AUR-CN-0003",
        },
    )

    assert approved.status_code == 200
    assert "new_rxswin is not an RXSWIN" in approved.content.decode()
    assert not RxswinEntry.objects.exists()
