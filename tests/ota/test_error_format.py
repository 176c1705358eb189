"""Every API error has one shape, and no client input produces a 500."""

import pytest

from tests.factories import vehicle_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/manage/vehicles"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["detail"], (dict, list))
    return error


@pytest.mark.parametrize(
    "body",
    [b"{", b"not json", b'{"vin": NaN}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000],
    ids=["truncated", "text", "nan", "not utf-8", "deeply nested"],
)
def test_malformed_json_is_400_and_changes_nothing(engineer_api, fleet_unchanged, body):
    with fleet_unchanged():
        response = engineer_api.post(URL, body, content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"ecus": [{"serial": "a\\u0000b"}]}', {"pointer": "/ecus/0/serial", "in": "value"}),
        (b'{"a/b": {"x\\u0000": 1}}', {"pointer": "/a~1b", "in": "key"}),
        (b'{"model": "\\ud800"}', {"pointer": "/model", "in": "value"}),
    ],
    ids=["NUL in a value", "NUL in a key", "lone surrogate"],
)
def test_text_no_column_keeps_is_400_naming_where_it_is(engineer_api, fleet_unchanged, body, where):
    with fleet_unchanged():
        response = engineer_api.post(URL, body, content_type="application/json")
    assert assert_error(response, 400, "malformed_request")["detail"] == where


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/api/v1/manage/rxswins?market=E%00U", {"in": "query", "parameter": "market"}),
        ("/api/v1/manage/vehicles?region=EU&mo%00del=x", {"in": "query"}),
        ("/api/v1/manage/cohorts/a%00b", {"in": "path"}),
    ],
    ids=["in a value", "in a name", "in the path"],
)
def test_nul_in_a_url_is_400_naming_where_not_a_database_error(engineer_api, url, where):
    """PostgreSQL fails a query that compares a column with NUL: this was a 500 there."""
    assert assert_error(engineer_api.get(url), 400, "malformed_request")["detail"] == where


@pytest.mark.parametrize("body", [b"[]", b'"vin"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(engineer_api, fleet_unchanged, body):
    with fleet_unchanged():
        response = engineer_api.post(URL, body, content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_a_body_over_the_limit_is_413_before_it_is_parsed(engineer_api, settings, fleet_unchanged):
    settings.OTA_MAX_JSON_BODY_BYTES = 1024
    payload = vehicle_payload(model="x" * 2000)
    with fleet_unchanged():
        response = engineer_api.post(URL, payload, format="json")
    error = assert_error(response, 413, "payload_too_large")
    assert error["detail"]["limit_bytes"] == 1024


def test_a_body_that_lies_about_its_length_is_still_limited(engineer_api, settings):
    settings.OTA_MAX_JSON_BODY_BYTES = 1024
    response = engineer_api.generic(
        "POST",
        URL,
        b'{"model": "' + b"x" * 5000 + b'"}',
        content_type="application/json",
        CONTENT_LENGTH="10",
    )
    # The server reads no more than it was told; a short read is simply malformed JSON.
    assert response.status_code in (400, 413)


def test_form_encoded_bodies_are_415(engineer_api, fleet_unchanged):
    with fleet_unchanged():
        response = engineer_api.post(URL, {"vin": "x"}, format="multipart")
    assert_error(response, 415, "unsupported_media_type")


def test_an_unknown_api_path_is_a_json_404(engineer_api):
    assert_error(engineer_api.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(engineer_api.get("/api/v1/vehicles/SHORTVIN"), 404, "not_found")


def test_a_wrong_method_is_a_json_405(engineer_api):
    response = engineer_api.delete(URL)
    assert_error(response, 405, "method_not_allowed")


def test_an_unexpected_failure_is_a_json_500_and_logged(engineer_api, monkeypatch, caplog):
    from rollouts.api import manage

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(manage.selectors, "vehicle_list", explode)
    engineer_api.raise_request_exception = False
    response = engineer_api.get(URL)
    assert_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    assert "Unhandled error" in caplog.text
