import pytest

from tests.conftest import vehicle_api

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def test_an_engineer_finds_a_vehicle_and_revokes_its_token(logged_in, live_server, provision):
    page = logged_in
    body, token = provision()
    other, _ = provision()

    page.goto(f"{live_server.url}/admin/rollouts/vehicle/")
    page.fill("#searchbar", body["vin"][:12].lower())
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert other["vin"] not in page.content()

    page.check("#result_list tbody input.action-select")
    page.select_option("select[name=action]", "revoke_tokens")
    with page.expect_navigation():
        page.click("button[name=index]")
    page.fill("#id_reason", "reported stolen")
    with page.expect_navigation():
        page.click("text=Yes, revoke tokens")

    page.wait_for_selector(".messagelist .success")
    assert f"{body['vin']}: token revoked" in page.inner_text(".messagelist")
    assert vehicle_api(token).get(f"/api/v1/vehicles/{body['vin']}").status_code == 401


def test_the_admin_pages_render_in_a_browser(logged_in, live_server, provision):
    page = logged_in
    provision()
    for path, heading in [
        ("/admin/", "Dashboard"),
        ("/admin/pipeline/", "Release pipeline"),
        ("/admin/rollouts/vehicle/", "Select vehicle to view"),
        ("/admin/rollouts/channel/", "Select channel to"),
        ("/admin/signing/bundle/upload/", "Upload a bundle"),
        ("/admin/audit/auditevent/", "Select audit event to view"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert heading in page.inner_text("#content"), path


def test_an_engineer_makes_a_static_cohort_from_the_fleet_list(logged_in, live_server, provision):
    page = logged_in
    chosen = [provision()[0]["vin"] for _ in range(2)]
    provision()

    page.goto(f"{live_server.url}/admin/rollouts/cohort/")
    with page.expect_navigation():
        page.click("text=Create cohort")
    page.fill("#id_name", "test-fleet")
    page.select_option("#id_kind", "static")
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .success")

    page.goto(f"{live_server.url}/admin/rollouts/vehicle/")
    for vin in chosen:
        page.check(f"#result_list tr:has-text('{vin}') input.action-select")
    page.select_option("select[name=action]", "add_to_cohort")
    with page.expect_navigation():
        page.click("button[name=index]")
    page.select_option("#id_cohort", "test-fleet")
    with page.expect_navigation():
        page.click("text=Yes, add vehicles to a static cohort")
    assert "2 added to test-fleet" in page.inner_text(".messagelist")

    page.goto(f"{live_server.url}/admin/rollouts/cohort/")
    with page.expect_navigation():
        page.click("text=test-fleet")
    shown = page.inner_text("#content")
    assert all(vin in shown for vin in chosen)
