"""Timestamps and snapshots are re-signed before half their lifetime; people are warned."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from signing import repository, tasks
from signing.models import Repo

pytestmark = pytest.mark.django_db


def versions() -> dict[str, int]:
    return {role: repository.latest(Repo.IMAGE, role).version for role in ("snapshot", "timestamp")}


def test_the_schedule_re_signs_the_timestamp_before_half_its_life(repos, monkeypatch):
    assert versions() == {"snapshot": 1, "timestamp": 1}
    start = timezone.now()

    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(hours=11))
    assert tasks.refresh_image_metadata() == []  # 13 of 24 hours left: nothing to do

    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(hours=13))
    assert tasks.refresh_image_metadata() == ["timestamp"]
    timestamp = repository.latest(Repo.IMAGE, "timestamp")
    assert timestamp.version == 2
    assert timestamp.expires > start + timedelta(hours=36)


def test_the_snapshot_is_re_signed_with_a_new_timestamp_past_its_half_life(repos, monkeypatch):
    later = timezone.now() + timedelta(days=4)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert tasks.refresh_image_metadata() == ["snapshot", "timestamp"]
    assert versions() == {"snapshot": 2, "timestamp": 2}
    snapshot = repository.load(repository.latest(Repo.IMAGE, "snapshot"))
    assert snapshot.signed.meta["targets.json"].version == 1


def test_roles_signed_by_people_warn_before_they_expire(repos, monkeypatch, caplog):
    assert repository.expiry_warnings() == []
    soon = timezone.now() + timedelta(days=80)  # targets live 90 days, warnings start at 21
    monkeypatch.setattr(timezone, "now", lambda: soon)
    warnings = repository.expiry_warnings()
    assert warnings == [w for w in warnings if "image repository's targets" in w] and warnings
    tasks.refresh_image_metadata()
    assert "targets metadata (version 1) expires" in caplog.text


def test_the_admin_index_shows_expiry_warnings(repos, admin_client, settings):
    settings.OTA_TUF_EXPIRY_WARNING_SECONDS = 400 * 86400  # everything is "soon"
    html = admin_client.get("/admin/").content.decode()
    assert "repository&#x27;s root metadata (version 1) expires" in html


def test_sync_schedules_upserts_the_declared_jobs_by_name():
    call_command("sync_schedules", stdout=None)
    call_command("sync_schedules", stdout=None)
    schedule = Schedule.objects.get(name="signing.refresh_image_metadata")
    assert schedule.func == "signing.tasks.refresh_image_metadata"
    assert Schedule.objects.get(name="rollouts.evaluate_rollouts").minutes == 1
    assert Schedule.objects.get(name="signing.prune_director_metadata").schedule_type == "D"
    resume = Schedule.objects.get(name="signing.resume_stalled_verifications")
    assert resume.func == "signing.tasks.resume_stalled_verifications"
    builds = Schedule.objects.get(name="signing.resume_stalled_delta_builds")
    assert builds.func == "signing.tasks.resume_stalled_delta_builds"
    copies = Schedule.objects.get(name="signing.resume_stalled_copies")
    assert copies.func == "signing.tasks.resume_stalled_copies"
    prune = Schedule.objects.get(name="compliance.prune_evidence")
    assert prune.func == "compliance.tasks.prune_evidence" and prune.schedule_type == "D"
    exports = Schedule.objects.get(name="compliance.resume_stalled_exports")
    assert exports.func == "compliance.tasks.resume_stalled_exports"
    assert Schedule.objects.count() == 8
