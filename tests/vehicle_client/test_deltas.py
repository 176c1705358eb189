"""Delta updates: built when a release is approved, signed into the Image repository, named
by the Director to the cars that run their source, applied and verified by the reference car,
which falls back to the full image whenever anything does not check out."""

import functools
import io
import os

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from bench.delta_images import image_pair
from rollouts.models import Rollout
from rollouts.services import counters
from signing import storage
from signing.models import Delta
from signing.services.deltas import delta_request
from vehicle_client import delta as car_delta

pytestmark = pytest.mark.django_db


@functools.cache
def images() -> tuple[bytes, bytes]:
    """Version N and N+1 of a 1 MiB firmware image (bench/delta_images.py)."""
    return image_pair(1)


@pytest.fixture
def on_v1(car, publish, ship):
    """A car that installed version N in full, and that version's bundle."""
    vehicle = car()
    old, _ = images()
    v1, _ = publish(old, path="hu-gen7/firmware-n.bin")
    ship([v1])
    assert vehicle.poll_cycle().installed
    vehicle.put_manifest()  # the server learns what it runs
    return vehicle, v1


@pytest.fixture
def v2_approved(publish, ship, django_capture_on_commit_callbacks):
    """Version N+1 released and rolled out; its approval queued the delta builds, run here."""
    _, new = images()
    v2, _ = publish(new, path="hu-gen7/firmware-n1.bin")
    with django_capture_on_commit_callbacks(execute=True):
        _, rollout_id = ship([v2])
    return v2, rollout_id


def stage_counts(rollout_id: int) -> dict:
    return counters.by_stage(rollout=Rollout.objects.get(pk=rollout_id))[0]


def test_a_delta_is_built_signed_and_applied_by_a_car_running_its_source(
    on_v1, v2_approved, car, engineer_api
):
    vehicle, v1 = on_v1
    v2, rollout_id = v2_approved
    newcomer = car()  # runs its factory image: no delta starts there

    built = Delta.objects.get()
    assert (built.source, built.result, built.status) == (v1, v2, "ready")
    assert built.length < v2.length / 5 and built.build_seconds is not None

    first, second = vehicle.poll_cycle(), newcomer.poll_cycle()

    (offer,) = first.offered
    assert offer.delta == built.path  # named by the Director for this ECU
    signed = vehicle._image.get_targetinfo(built.path)  # verified by python-tuf
    assert signed.custom["delta"]["from"]["sha256"] == v1.sha256
    assert signed.custom["delta"]["to"]["sha256"] == v2.sha256
    assert first.installed == [offer.ecu.serial] and first.delta_refused == {}
    assert vehicle.ecus[offer.ecu.serial].installed.sha256 == v2.sha256
    assert second.offered[0].delta == "" and second.installed  # the full image for it
    counts = stage_counts(rollout_id)
    assert (counts["delta_downloads"], counts["delta_bytes_saved"]) == (1, v2.length - built.length)
    detail = engineer_api.get(f"/api/v1/manage/rollouts/{rollout_id}").json()
    assert detail["stages"][0]["counts"]["delta_bytes_saved"] == v2.length - built.length


def test_a_tampered_delta_is_refused_and_the_full_image_installed(on_v1, v2_approved):
    vehicle, _ = on_v1
    v2, rollout_id = v2_approved
    built = Delta.objects.get()
    store = storage.bundle_storage()
    tampered = bytearray(store.open(built.blob_name).read())
    tampered[100] ^= 0xFF
    store.delete(built.blob_name)
    store.save(built.blob_name, io.BytesIO(bytes(tampered)))

    result = vehicle.poll_cycle()

    (offer,) = result.offered
    assert "does not match expected hash" in result.delta_refused[offer.ecu.serial]
    assert result.installed == [offer.ecu.serial]
    assert vehicle.ecus[offer.ecu.serial].installed.sha256 == v2.sha256
    assert stage_counts(rollout_id)["delta_downloads"] == 0


def test_a_delta_that_builds_another_image_is_refused_and_the_full_image_installed(
    on_v1, v2_approved
):
    vehicle, _ = on_v1
    v2, rollout_id = v2_approved
    (serial,) = [s for s, e in vehicle.ecus.items() if e.hardware_id == "hu-gen7"]
    kept = vehicle.workdir / "installed" / f"{serial}.img"
    changed = bytearray(kept.read_bytes())
    changed[5000:5100] = bytes(100)  # the copy it keeps no longer holds what it runs
    kept.write_bytes(bytes(changed))

    result = vehicle.poll_cycle()

    assert "image built from the delta" in result.delta_refused[serial]
    assert result.installed == [serial]
    assert vehicle.ecus[serial].installed.sha256 == v2.sha256
    assert stage_counts(rollout_id)["delta_downloads"] == 0


def test_applying_a_delta_never_writes_past_the_images_signed_length(tmp_path):
    from signing import deltas

    old, new = images()
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    with (tmp_path / "old").open("rb") as a, (tmp_path / "new").open("rb") as b:
        deltas.build(a, b, patch := io.BytesIO())
    sink = io.BytesIO()

    with pytest.raises(car_delta.DeltaError, match="more than"):
        car_delta.apply(io.BytesIO(old), io.BytesIO(patch.getvalue()), sink, max_length=4096)

    assert len(sink.getvalue()) <= 4096
    whole = io.BytesIO()
    car_delta.apply(io.BytesIO(old), io.BytesIO(patch.getvalue()), whole, max_length=len(new))
    assert whole.getvalue() == new


def test_garbage_is_no_delta():
    with pytest.raises(car_delta.DeltaError):
        car_delta.apply(io.BytesIO(b"old"), io.BytesIO(b"garbage"), io.BytesIO(), max_length=10)


def test_a_delta_that_saves_too_little_is_not_kept(publish):
    old, _ = publish(b"x" * 1000, path="hu-gen7/a.bin")
    new, _ = publish(os.urandom(20_000), path="hu-gen7/b.bin")  # nothing in common

    delta = delta_request(source=old, result=new)
    from signing.services.deltas import delta_build

    delta = delta_build(delta_id=delta.pk)

    assert delta.status == "failed" and "saves too little" in delta.failure


def test_delta_builds_go_to_the_long_queue(
    publish, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", False)
    old, _ = publish(b"a" * 5000, path="hu-gen7/a.bin")
    new, _ = publish(b"a" * 4000 + b"b" * 1000, path="hu-gen7/b.bin")

    with django_capture_on_commit_callbacks(execute=True):
        delta_request(source=old, result=new)

    assert list(OrmQ.objects.values_list("key", flat=True)) == ["long"]
    from django.conf import settings

    long = settings.Q_CLUSTER["ALT_CLUSTERS"]["long"]
    assert long["timeout"] >= 3600 and long["retry"] > long["timeout"]


def test_only_a_download_names_a_delta(on_v1, v2_approved):
    vehicle, _ = on_v1
    event = vehicle.event("install_started", "", vehicle.primary.serial, delta="deltas/x")

    answer = vehicle.send_events([event])

    assert answer.status == 400
    assert "delta" in answer.body.decode()


def test_bundle_paths_under_deltas_are_the_builders(publish):
    from signing.errors import BundlePathTaken

    with pytest.raises(BundlePathTaken):
        publish(b"mine", path="deltas/hu-gen7/mine.bin")


def test_the_admin_shows_deltas_and_the_bytes_they_saved(on_v1, v2_approved, staff):
    vehicle, _ = on_v1
    _, rollout_id = v2_approved
    vehicle.poll_cycle()
    client = staff("rita", "release engineer")

    deltas = client.get("/admin/signing/delta/").content.decode()
    rollouts = client.get("/admin/rollouts/rollout/").content.decode()
    page = client.get(f"/admin/rollouts/rollout/{rollout_id}/change/").content.decode()

    assert Delta.objects.get().path in deltas and "<progress" in deltas
    saved = Delta.objects.get().saves
    assert f"{saved / 1000:,.1f} KB" in rollouts
    assert f"{saved / 1000:,.1f} KB" in page


def test_a_build_lost_with_its_task_is_queued_again(
    publish, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from signing.services.stalled import long_task_stalled_after as build_stalled_after
    from signing.tasks import resume_stalled_delta_builds

    monkeypatch.setattr(Conf, "SYNC", False)  # the build's task is queued, and lost
    old, new = images()
    source, _ = publish(old, path="hu-gen7/a.bin")
    result, _ = publish(new, path="hu-gen7/b.bin")
    delta = delta_request(source=source, result=result)
    OrmQ.objects.all().delete()
    monkeypatch.setattr(Conf, "SYNC", True)

    assert resume_stalled_delta_builds() == []  # it may still be running
    long_ago = timezone.now() - build_stalled_after() - timedelta(seconds=1)
    Delta.objects.filter(pk=delta.pk).update(status_changed_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_delta_builds() == [delta.pk]

    assert Delta.objects.get(pk=delta.pk).status == "ready"
