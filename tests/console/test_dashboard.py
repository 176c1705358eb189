import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollouts.models import Channel, Ecu, Rollout, Vehicle
from rollouts.services import counters
from rollouts.services.evaluation import rollout_evaluate
from rollouts.services.rollouts import rollout_halt
from tests.conftest import _token_client
from tests.factories import make_vin

pytestmark = pytest.mark.django_db


def text_of(page) -> str:
    """The page's words as a browser shows them: tags removed, spaces collapsed, punctuation
    after a link kept next to it."""
    html = page if isinstance(page, str) else page.content.decode()
    words = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    return re.sub(r" ([:,.])", r"\1", words)


def test_a_running_rollout_is_a_card_with_its_progress_failure_bounds_and_next_gate(staff, running):
    rollout = running(offered=40, succeeded=30, failed_install=1, timed_out=1)
    client = staff("rita", "release engineer")
    assert "No evaluation yet" in text_of(client.get("/admin/"))
    rollout_evaluate(rollout_id=rollout.pk)
    page = client.get("/admin/")
    assert page.status_code == 200
    shown = text_of(page)
    assert "2026.50 → beta" in shown
    assert "30 succeeded · 1 failed · 1 timed out · 8 waiting" in shown
    # 2 of 32 finished installs failed: 6.25 %, with Wilson 95 % bounds 1.73 % and 20.15 %.
    assert "6.2 % (95 %: 1.7 % – 20.1 %; 2 of 32)" in shown
    assert "limit 2.0 %" in shown
    assert "Soaking: 1 h to go; if healthy then, it moves to stage 2 (50 %)." in shown
    card = page.content.decode().split(f'data-rollout="{rollout.pk}"')[1]
    assert "<svg" in card.split("</article>")[0]  # its failure rate over time, drawn


def test_a_halted_rollout_explains_itself_on_its_card_in_the_last_halts_and_to_whoever_acts(
    staff, running
):
    rollout = running(policy={"min_finished": 20}, offered=41, succeeded=30, failed_install=11)
    rollout_evaluate(rollout_id=rollout.pk)
    assert Rollout.objects.get(pk=rollout.pk).status == "halted"
    sentence = (
        "Install failure rate in stage 1 of 3 (10 %): at least 15.7 % (95 % lower bound; "
        "11 of 41 installs failed) is above the 2 % limit."
    )
    shown = text_of(staff("rita", "release engineer").get("/admin/"))
    assert shown.count(sentence) == 3  # the card, "waiting for you", the last halts
    assert "by evaluator" in shown


def test_a_person_who_halts_is_named_in_the_last_halts(staff, running):
    rollout = running()
    rollout_halt(rollout=rollout, actor=User.objects.get(username="ada"), reason="chimes")
    shown = text_of(staff("rita", "release engineer").get("/admin/"))
    assert "Halted by ada: chimes" in shown


def test_what_waits_for_an_approver_is_someone_elses_draft_never_their_own(
    staff, publish, engineer_api, make_user
):
    bundle, _ = publish()
    for version, api in [
        ("theirs", engineer_api),
        ("mine", _token_client(make_user("sol", "release engineer", "approver", is_staff=True))),
    ]:
        made = api.post(
            "/api/v1/manage/releases", {"version": version, "bundles": [bundle.pk]}, format="json"
        )
        assert made.status_code == 201

    staff_client = staff("rita", "release engineer")
    shown = text_of(staff_client.get("/admin/"))
    assert "Release theirs" not in shown  # rita may not approve releases

    staff_client.force_login(User.objects.get(username="sol"))
    shown = text_of(staff_client.get("/admin/"))
    assert "Release theirs: made by erin: approve it" in shown
    assert "Release mine" not in shown


def test_a_manual_gate_waits_for_a_person_and_says_so(staff, running):
    rollout = running(offered=60, succeeded=60)
    Rollout.objects.filter(pk=rollout.pk).update(stage_index=1)
    with_exposure = {
        "treated_seconds": 800 * 3600,
        "control_seconds": 800 * 3600,
        "treated_crashes": 10,
        "control_crashes": 10,
    }
    counters.count(rollout_id=rollout.pk, stage_index=0, **with_exposure)
    counters.count(rollout_id=rollout.pk, stage_index=1, offered=300, succeeded=300)
    Rollout.objects.filter(pk=rollout.pk).update(
        stage_started_at=timezone.now() - timedelta(hours=2)
    )
    rollout_evaluate(rollout_id=rollout.pk)
    shown = text_of(staff("rita", "release engineer").get("/admin/"))
    assert "Healthy and soaked: waits for a person at the manual gate" in shown
    assert "manual gate at stage 2" in shown


def test_the_fleet_shows_installed_software_per_hardware_id_and_region(staff, provision):
    provision(region="EU")
    provision(region="US")
    page = staff("rita", "release engineer").get("/admin/")
    svg = page.content.decode().split("Installed software")[1]
    assert "hu-gen7" in svg
    assert ">EU<" in svg and ">US<" in svg
    assert "unknown image" in svg  # factory images are not bundles we know


def _fleet_of(n: int, channel: Channel) -> None:
    vehicles = Vehicle.objects.bulk_create(
        Vehicle(vin=make_vin(), model="Aurora", region=("EU", "US")[i % 2], channel=channel)
        for i in range(n)
    )
    Ecu.objects.bulk_create(
        Ecu(
            vehicle=v,
            serial=f"hu-{v.pk}",
            hardware_id="hu-gen7",
            primary=True,
            public_key={},
            keyid=f"{v.pk:064d}",
        )
        for v in vehicles
    )


def _dashboard_queries(client) -> int:
    cache.clear()  # the fleet's composition is read, not taken from the cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def test_the_dashboard_reads_as_many_queries_for_ten_thousand_vehicles_as_for_a_hundred(
    staff, running
):
    client = staff("rita", "release engineer", "approver")
    running("2026.60", offered=40, succeeded=39, failed_install=1)
    halted = running("2026.61", channel="stable", offered=3)
    rollout_halt(rollout=halted, actor=User.objects.get(username="ada"), reason="test")
    beta = Channel.objects.get(name="beta")

    _fleet_of(100, beta)
    few = _dashboard_queries(client)
    _fleet_of(9_900, beta)
    many = _dashboard_queries(client)
    assert few == many
    assert "of 10000 in scope" in text_of(client.get("/admin/"))


def test_the_live_figures_are_for_people_who_may_see_rollouts(client, staff, running):
    running()
    assert client.get("/admin/dashboard/live/").status_code == 302  # to the login page
    assert staff("nobody").get("/admin/dashboard/live/").status_code == 403
    live = staff("rita", "release engineer").get("/admin/dashboard/live/")
    assert live.status_code == 200
    assert "2026.50 → beta" in text_of(live)
    assert "<html" not in live.content.decode()  # a fragment, swapped into the open page


def test_a_person_without_rollout_rights_gets_the_plain_admin_index(staff):
    page = staff("nobody").get("/admin/")
    assert page.status_code == 200
    assert "Rollouts in progress" not in text_of(page)


def test_a_rollouts_charts_are_drawn_from_its_evaluations_for_people_who_may_see_it(
    client, staff, running
):
    rollout = running(offered=40, succeeded=39, failed_install=1)
    rollout_evaluate(rollout_id=rollout.pk)
    url = f"/admin/rollouts/rollout/{rollout.pk}/charts/"
    assert client.get(url).status_code == 302  # to the login page
    assert staff("nobody").get(url).status_code == 403
    charts = staff("rita", "release engineer").get(url).content.decode()
    assert charts.count("<svg") == 5  # failure rate, three rate ratios, vehicles per state
    assert "From the last 1 evaluation" in text_of(charts)
    assert "<html" not in charts  # a fragment, swapped into the open rollout page


def test_a_recalls_card_gives_its_deadline_and_what_deltas_saved(staff, publish, ship):
    bundle, _ = publish()
    recall = {"urgency": "safety_recall", "deadline": "2027-01-31T06:00:00Z"}
    _, rollout_id = ship([bundle], version="2026.51", install_policy=recall)
    counters.count(
        rollout_id=rollout_id,
        stage_index=0,
        offered=3,
        delta_downloads=2,
        delta_bytes_saved=5_300_000,
    )
    client = staff("rita", "release engineer")

    card = client.get("/admin/").content.decode().split(f'data-rollout="{rollout_id}"')[1]
    shown = text_of(card.split("</article>")[0])

    assert "Safety recall, due 2027-01-31 06:00 UTC: cars still lacking it, by market" in shown
    assert "Deltas saved 5.1 MB of downloads (2 cars)." in shown
