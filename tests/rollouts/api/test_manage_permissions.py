import re

import pytest
from django.contrib.auth.models import User
from django.urls import get_resolver
from rest_framework.test import APIClient

from tests.factories import vehicle_payload

pytestmark = pytest.mark.django_db

VIN = "1HGCM82633A004352"  # fixed: test ids must be the same in every xdist worker
EXAMPLES = {"vin": VIN, "manage_vin": VIN, "int": "1", "slug": "some-name", "str": "x", "path": "x"}


def management_calls() -> list[tuple[str, str]]:
    """Every method of every management endpoint, read from the URL configuration, so an
    endpoint added later is covered without anyone remembering to list it."""
    calls = []
    for pattern, view in _patterns(get_resolver().url_patterns, ""):
        if not pattern.startswith("api/v1/manage/"):
            continue
        url = "/" + re.sub(r"<(\w+):\w+>", lambda m: EXAMPLES[m.group(1)], pattern)
        cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
        for method in ("get", "post", "put", "patch", "delete"):
            if cls is not None and hasattr(cls, method):
                calls.append((method, url))
    return calls


def _patterns(patterns, prefix):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if hasattr(entry, "url_patterns"):
            yield from _patterns(entry.url_patterns, route)
        else:
            yield route, entry.callback


CALLS = management_calls()


def test_the_list_of_management_calls_is_read_from_the_urls():
    assert ("post", "/api/v1/manage/vehicles/bulk") in CALLS
    assert ("patch", "/api/v1/manage/cohorts/some-name") in CALLS
    assert ("post", "/api/v1/manage/rollouts/1/halt") in CALLS
    assert len(CALLS) > 25


@pytest.mark.parametrize(("method", "url"), CALLS)
def test_every_management_call_needs_authentication(anonymous_api, method, url):
    response = getattr(anonymous_api, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "url"), CALLS)
def test_a_user_without_permissions_is_refused(make_user, method, url):
    client = APIClient()
    client.force_authenticate(make_user("nobody"))
    response = getattr(client, method)(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_an_approver_may_read_but_not_provision(approver_api, provision):
    body, _ = provision()
    assert approver_api.get(f"/api/v1/manage/vehicles/{body['vin']}").status_code == 200
    response = approver_api.post("/api/v1/manage/vehicles", vehicle_payload(), format="json")
    assert response.status_code == 403
    assert (
        approver_api.post(f"/api/v1/manage/vehicles/{body['vin']}/token/revoke").status_code == 403
    )


@pytest.mark.parametrize("method", ["head", "options"])
def test_head_and_options_need_the_same_permission_as_get(make_user, method):
    client = APIClient()
    client.force_authenticate(make_user("nobody"))
    assert getattr(client, method)("/api/v1/manage/vehicles").status_code == 403


def test_a_bad_user_token_is_401(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    response = anonymous_api.get("/api/v1/manage/vehicles")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_session_works_and_needs_csrf(make_user):
    user = make_user("sam", "release engineer")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/manage/vehicles").status_code == 200
    response = client.post("/api/v1/manage/vehicles", vehicle_payload(), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_drf_create_token_makes_a_working_token(make_user):
    from io import StringIO

    from django.core.management import call_command

    make_user("ci-bot", "release engineer")
    out = StringIO()
    call_command("drf_create_token", "ci-bot", stdout=out)
    key = out.getvalue().split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/manage/vehicles").status_code == 200
    assert User.objects.get(username="ci-bot").api_tokens.get().digest != key  # only a hash
