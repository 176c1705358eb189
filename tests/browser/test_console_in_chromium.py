"""The console as a release engineer sees it: dashboard, one-click actions, pipeline,
bundle uploads."""

import hashlib
import os

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from console.selectors import FLEET_CACHE_KEY
from rollouts.models import Channel, Release, Rollout
from rollouts.services import counters
from rollouts.services.evaluation import rollout_evaluate
from rollouts.services.rollouts import (
    rollout_advance,
    rollout_approve,
    rollout_create,
    rollout_start,
)
from signing.models import Bundle
from tests.console.conftest import THREE_STAGES

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


@pytest.fixture
def rollouts(publish, ship):
    """One rollout running on beta, one halted on dev by its failure rate."""
    made = {}
    for version, channel, later in [
        ("2026.80", "beta", {"offered": 40, "succeeded": 39, "failed_install": 1}),
        ("2026.81", "dev", {"offered": 31, "succeeded": 20, "failed_install": 11}),
    ]:
        bundle, _ = publish()
        _, rollout_id = ship(
            [bundle], channel, version=version, stages=THREE_STAGES, policy={"min_finished": 20}
        )
        # Two evaluations each: a line over time, not a dot.
        counters.count(rollout_id=rollout_id, stage_index=0, offered=10, succeeded=10)
        rollout_evaluate(rollout_id=rollout_id)
        counters.count(rollout_id=rollout_id, stage_index=0, **later)
        rollout_evaluate(rollout_id=rollout_id)
        made[version] = Rollout.objects.get(pk=rollout_id)
    assert made["2026.81"].status == "halted"
    return made


def test_the_dashboard_draws_the_running_and_the_halted_rollouts(
    logged_in, live_server, rollouts, screenshot, provision, settings
):
    settings.OTA_CONSOLE_REFRESH_SECONDS = 2
    for region, channel in [("EU", "beta"), ("EU", "beta"), ("US", "beta"), ("CN", "dev")]:
        provision(region=region, channel=channel)
    cache.delete(FLEET_CACHE_KEY)  # counted when the login landed here, before these cars
    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    for version, rollout in rollouts.items():
        card = page.locator(f"article[data-rollout='{rollout.pk}']")
        assert version in card.inner_text()
        chart = card.locator("figure.console-spark svg")
        assert chart.locator("path.line").count() >= 2  # drawn: observed, bounds, limit
        assert chart.bounding_box()["height"] > 40
    halted = page.locator(f"article[data-rollout='{rollouts['2026.81'].pk}']").inner_text()
    assert "Install failure rate in stage 1 of 3 (10 %): at least" in halted
    assert page.locator("figure[aria-label^='hu-gen7'] svg").count() == 1  # installed software
    screenshot("dashboard")

    # The figures refresh while the page stays open (live.js fetches the fragment).
    page.wait_for_function(
        "document.getElementById('dashboard').dataset.liveRefreshed >= 1", timeout=20_000
    )


def test_an_engineer_halts_a_rollout_with_its_button_and_reads_why(
    logged_in, live_server, rollouts, screenshot
):
    page = logged_in
    rollout = rollouts["2026.80"]
    page.goto(f"{live_server.url}/admin/rollouts/rollout/{rollout.pk}/change/")
    buttons = page.locator("form.rollout-action button").all_inner_texts()
    assert buttons == ["Pause", "Advance", "Halt", "Abort"]
    assert page.locator("#rollout-charts svg").count() >= 5  # failure, three ratios, states
    screenshot("rollout-running")

    with page.expect_navigation():
        page.click("form.rollout-action button:has-text('Halt')")
    page.fill("#id_reason", "dashboard lights stay on after the update")
    with page.expect_navigation():
        page.click("text=Yes, halt rollouts")
    assert "now halted" in page.inner_text(".messagelist")

    page.goto(f"{live_server.url}/admin/rollouts/rollout/{rollout.pk}/change/")
    assert "Halted by rita: dashboard lights stay on after the update" in page.inner_text(
        "#content"
    )
    assert page.locator("form.rollout-action button").all_inner_texts() == [
        "Resume",
        "Abort",
        "Revert",
    ]
    screenshot("rollout-halted")

    with page.expect_navigation():
        page.click("text=History")
    assert "rollout.halted" in page.inner_text("#result_list")


def test_the_pipeline_shows_a_release_on_two_channels(
    logged_in, live_server, publish, ship, screenshot
):
    bundle, _ = publish()
    _, on_dev = ship([bundle], "dev", version="2026.82", stages=THREE_STAGES)
    for _ in THREE_STAGES:
        rollout_advance(rollout=Rollout.objects.get(pk=on_dev), actor=None, reason="test")
    release = Release.objects.get(version="2026.82")
    erin, ada = User.objects.get(username="erin"), User.objects.get(username="ada")
    rollout = rollout_create(
        release=release, channel=Channel.objects.get(name="forever-beta"), actor=erin
    )
    rollout = rollout_approve(rollout=rollout, actor=ada)
    rollout_start(rollout=rollout, actor=erin)

    page = logged_in
    page.goto(f"{live_server.url}/admin/")
    with page.expect_navigation():
        page.click("text=Release pipeline")
    row = page.locator("tr[data-release='2026.82']")
    assert row.locator("td[data-channel='dev']").inner_text().startswith("completed")
    assert "running in stage 1 of 2" in row.locator("td[data-channel='forever-beta']").inner_text()
    assert "Open the rollout on forever-beta" in row.inner_text()
    screenshot("pipeline")


def test_choosing_a_channel_fills_in_its_stage_plan(logged_in, live_server, publish, ship):
    bundle, _ = publish()
    ship([bundle], "dev", version="2026.83")
    page = logged_in
    page.goto(f"{live_server.url}/admin/rollouts/rollout/create/")
    page.select_option("#id_channel", label="beta")
    assert page.input_value("#id_stages").startswith("10, 240, auto, 2880\n50, 480")
    page.fill("#id_stages", "1, 60\n100, 60")
    page.select_option("#id_channel", label="stable")
    assert page.input_value("#id_stages") == "1, 60\n100, 60"  # a plan of one's own stays


def _upload(page, image, path: str, version: str, counter: int) -> None:
    """Fill in the upload form and press Upload."""
    page.set_input_files("#id_file", str(image))
    page.fill("#id_path", path)
    page.fill("#id_hardware_id", path.split("/")[0])
    page.fill("#id_version", version)
    page.fill("#id_release_counter", str(counter))
    page.click("#bundle-upload [type=submit]")


def test_a_bundle_uploads_with_a_progress_bar_and_shows_its_hashes(
    logged_in, live_server, repos, tmp_path, screenshot
):
    data = os.urandom(24 * 1024 * 1024)
    image = tmp_path / "hu-7.9.0.bin"
    image.write_bytes(data)
    page = logged_in
    page.goto(f"{live_server.url}/admin/signing/bundle/upload/")
    _upload(page, image, "hu-gen7/hu-7.9.0.bin", "7.9.0", 790)
    page.wait_for_selector("#upload-result dd.bundle-sha256", timeout=60_000)

    assert page.eval_on_selector("#upload-progress", "bar => bar.value") == 100
    assert page.inner_text("#upload-progress-label").startswith("100 %")
    assert page.inner_text("dd.bundle-sha256") == hashlib.sha256(data).hexdigest()
    assert page.inner_text("dd.bundle-sha512") == hashlib.sha512(data).hexdigest()
    bundle = Bundle.objects.get(path="hu-gen7/hu-7.9.0.bin")
    assert (bundle.length, bundle.status) == (len(data), "verified")
    screenshot("bundle-uploaded")


def test_an_upload_the_server_refuses_says_why_and_keeps_nothing(
    logged_in, live_server, repos, tmp_path, publish
):
    publish(path="hu-gen7/taken.bin")
    image = tmp_path / "taken.bin"
    image.write_bytes(b"x" * 1024)
    page = logged_in
    page.goto(f"{live_server.url}/admin/signing/bundle/upload/")
    _upload(page, image, "hu-gen7/taken.bin", "7.9.1", 100_000)
    page.wait_for_selector("#upload-result.errornote")
    assert "hu-gen7/taken.bin" in page.inner_text("#upload-result")
    assert Bundle.objects.filter(path="hu-gen7/taken.bin").count() == 1


def test_on_s3_a_bundle_goes_straight_into_the_bucket_then_the_server_hashes_it(
    logged_in, live_server, repos, s3_regions, tmp_path
):
    buckets, client = s3_regions
    # A bucket takes a browser's PUT only from origins its CORS rules name (as on AWS).
    client.put_bucket_cors(
        Bucket=buckets["US"],
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [live_server.url],
                    "AllowedMethods": ["PUT"],
                    "AllowedHeaders": ["*"],
                }
            ]
        },
    )
    data = os.urandom(6 * 1024 * 1024)
    image = tmp_path / "bms-2.9.0.bin"
    image.write_bytes(data)
    page = logged_in
    page.goto(f"{live_server.url}/admin/signing/bundle/upload/")
    assert page.get_attribute("#bundle-upload", "data-mode") == "direct"
    _upload(page, image, "bms-v2/bms-2.9.0.bin", "2.9.0", 290)
    page.wait_for_selector("#upload-result dd.bundle-sha256", timeout=60_000)

    assert page.inner_text("dd.bundle-sha256") == hashlib.sha256(data).hexdigest()
    stored = client.get_object(Bucket=buckets["US"], Key=Bundle.objects.get().blob_name)
    assert stored["ContentLength"] == len(data)  # the bytes went to the bucket, not through us
