import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_healthz_answers_a_tiny_json_body(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_openapi_schema_describes_both_apis(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/manage/vehicles" in schema["paths"]
    assert "/api/v1/vehicles/{vin}" in schema["paths"]
    assert {"vehicleToken", "tokenAuth"} <= set(schema["components"]["securitySchemes"])


def test_the_schema_generates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_the_docs_page_serves_its_assets_locally(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_view_site_in_the_admin_leads_to_the_api_docs(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert 'href="/api/docs/">View site' in index
    assert admin_client.get("/api/docs/").status_code == 200
