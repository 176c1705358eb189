"""Forever beta: opting in delivers the newest beta, opting out never downgrades."""

import pytest

from audit.models import AuditEvent
from rollouts.models import ChannelChange, Vehicle

pytestmark = pytest.mark.django_db


def head_unit(vehicle):
    return next(e for e in vehicle.ecus.values() if e.hardware_id == "hu-gen7")


def test_opting_in_delivers_the_newest_beta_and_opting_out_keeps_it(car, publish, ship):
    vehicle = car()
    stable, _ = publish(hardware_id="hu-gen7")
    beta, _ = publish(hardware_id="hu-gen7")
    ship([stable], "stable")
    ship([beta], "forever-beta")
    vehicle.poll_cycle()
    vehicle.poll_cycle()
    assert head_unit(vehicle).installed.release_counter == stable.release_counter

    joined = vehicle.set_channel("forever-beta", terms_version="2026-01")
    assert joined.status == 200
    assert joined.json()["channel"] == "forever-beta"
    offered = vehicle.poll_cycle().offered
    assert [t.path for t in offered] == [beta.path]
    assert head_unit(vehicle).installed.release_counter == beta.release_counter

    assert vehicle.set_channel("stable").status == 200
    assert vehicle.poll_cycle().offered == []  # no downgrade to the stable release
    assert head_unit(vehicle).installed.release_counter == beta.release_counter

    changes = list(
        ChannelChange.objects.order_by("at").values_list(
            "from_channel__name", "to_channel__name", "via", "terms_version"
        )
    )
    assert changes == [
        ("stable", "forever-beta", "vehicle", "2026-01"),
        ("forever-beta", "stable", "vehicle", ""),
    ]
    assert AuditEvent.objects.filter(action="vehicle.channel_changed").count() == 2


def test_every_later_beta_arrives_too(car, publish, ship):
    vehicle = car(channel="forever-beta")
    first, _ = publish(hardware_id="hu-gen7")
    ship([first], "forever-beta")
    vehicle.poll_cycle()
    second, _ = publish(hardware_id="hu-gen7")
    ship([second], "forever-beta")
    assert [t.path for t in vehicle.poll_cycle().offered] == [second.path]


def test_joining_forever_beta_needs_consent(car):
    vehicle = car()
    answer = vehicle.set_channel("forever-beta")
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "consent_required"
    assert Vehicle.objects.get(vin=vehicle.vin).channel.name == "stable"


def test_a_vehicle_cannot_put_itself_on_a_channel_that_is_not_self_service(car):
    vehicle = car()
    answer = vehicle.set_channel("beta", terms_version="2026-01")
    assert answer.status == 403
    assert answer.json()["error"]["code"] == "channel_not_self_service"


def test_an_unknown_channel_is_422(car):
    assert car().set_channel("nightly", terms_version="x").status == 422


def test_a_companion_app_backend_opts_in_through_the_management_api(car, engineer_api):
    vehicle = car()
    url = f"/api/v1/manage/vehicles/{vehicle.vin}/channel"
    refused = engineer_api.put(url, {"channel": "forever-beta"}, format="json")
    assert refused.status_code == 400
    answer = engineer_api.put(
        url,
        {
            "channel": "forever-beta",
            "consent": {"terms_version": "2026-01", "accepted": True, "by": "app-user-42"},
        },
        format="json",
    )
    assert answer.status_code == 200
    assert answer.json()["channel"] == "forever-beta"
    change = ChannelChange.objects.get()
    assert (change.via, change.consent_by, change.actor.username) == ("api", "app-user-42", "erin")


def test_consent_must_be_accepted(car, engineer_api):
    vehicle = car()
    answer = engineer_api.put(
        f"/api/v1/manage/vehicles/{vehicle.vin}/channel",
        {"channel": "forever-beta", "consent": {"terms_version": "2026-01", "accepted": False}},
        format="json",
    )
    assert answer.status_code == 400


def test_a_forever_beta_car_also_gets_the_older_release_parts_it_still_lacks(car, publish, ship):
    vehicle = car(channel="forever-beta")
    base_hu, _ = publish(hardware_id="hu-gen7")
    base_tcu, _ = publish(hardware_id="tcu-gen3")
    newer_hu, _ = publish(hardware_id="hu-gen7")
    ship([base_hu, base_tcu], "forever-beta", version="base")
    ship([newer_hu], "forever-beta", version="newer")

    assert [t.path for t in vehicle.poll_cycle().offered] == [newer_hu.path]
    # The base release's head unit is superseded; its telematics part still applies.
    assert [t.path for t in vehicle.poll_cycle().offered] == [base_tcu.path]
    assert vehicle.poll_cycle().offered == []
    from rollouts.models import Assignment

    assert set(Assignment.objects.values_list("status", flat=True)) == {"succeeded"}
