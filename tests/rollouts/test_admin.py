import re

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from rollouts.models import Vehicle
from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/rollouts/vehicle/"


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("stella", "release engineer", is_staff=True))
    return client


def test_the_admin_pages_load(admin_client, provision):
    body, _ = provision()
    vehicle = Vehicle.objects.get(vin=body["vin"])
    for url in [
        "/admin/",
        CHANGELIST,
        f"{CHANGELIST}?region=EU&model=Aurora",
        f"{CHANGELIST}{vehicle.pk}/change/",  # the read-only view page
        "/admin/rollouts/channel/",
        "/admin/audit/auditevent/",
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_the_market_filter_lists_the_deployments_markets_without_reading_every_car(
    admin_client, provision
):
    eu, _ = provision(region="EU")
    us, _ = provision(region="US")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST, {"region": "EU"})
    html = response.content.decode()
    assert eu["vin"] in html and us["vin"] not in html
    assert all(f"?region={m}" in html for m in settings.OTA_REGIONS)
    assert not [q for q in queries if 'DISTINCT "rollouts_vehicle"."region"' in q["sql"]]


def test_searching_by_the_beginning_of_a_vin_finds_the_vehicle(admin_client, provision):
    first, _ = provision()
    second, _ = provision()
    response = admin_client.get(CHANGELIST, {"q": first["vin"][:10].lower()})
    html = response.content.decode()
    assert first["vin"] in html
    assert second["vin"] not in html


def test_the_vehicle_page_never_shows_a_token(admin_client, provision):
    body, token = provision()
    vehicle = Vehicle.objects.get(vin=body["vin"])
    html = admin_client.get(f"{CHANGELIST}{vehicle.pk}/change/").content.decode()
    secret = token.split("_", 2)[2]
    assert secret not in html
    assert vehicle.tokens.get().public_id in html


def test_revoking_asks_for_confirmation_and_a_reason_first(staff_client, provision):
    body, token = provision()
    vehicle = Vehicle.objects.get(vin=body["vin"])
    form = {"action": "revoke_tokens", ACTION_CHECKBOX_NAME: [vehicle.pk]}

    confirm = staff_client.post(CHANGELIST, form)
    assert confirm.status_code == 200
    assert b"Yes, revoke tokens" in confirm.content

    no_reason = staff_client.post(CHANGELIST, {**form, "confirm": "yes", "reason": ""})
    assert no_reason.status_code == 200
    assert vehicle_api(token).get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 200

    done = staff_client.post(CHANGELIST, {**form, "confirm": "yes", "reason": "car sold"})
    assert done.status_code == 302
    assert vehicle_api(token).get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 401
    event = AuditEvent.objects.get(action="vehicle.token_revoked")
    assert (event.reason, event.actor_label) == ("car sold", "stella")


def test_rotating_shows_the_new_token_once(staff_client, provision):
    body, old = provision()
    vehicle = Vehicle.objects.get(vin=body["vin"])
    form = {
        "action": "rotate_tokens",
        ACTION_CHECKBOX_NAME: [vehicle.pk],
        "confirm": "yes",
        "reason": "head unit replaced",
    }

    response = staff_client.post(CHANGELIST, form)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = re.search(r'class="vehicle-token">([^<]+)<', response.content.decode()).group(1)

    assert vehicle_api(old).get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 401
    assert vehicle_api(new).get(f"/api/v1/vehicles/{vehicle.vin}").status_code == 200
    page = staff_client.get(f"{CHANGELIST}{vehicle.pk}/change/").content.decode()
    assert new.split("_", 2)[2] not in page


def test_a_user_without_the_token_permission_sees_no_token_actions(client, make_user, provision):
    provision()
    client.force_login(make_user("viewer", "approver", is_staff=True))
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"revoke_tokens" not in response.content


def test_vehicles_cannot_be_added_or_deleted_in_the_admin(admin_client):
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
