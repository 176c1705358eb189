"""Bundles on S3 (moto's server over HTTP): regional buckets, presigned redirects, direct upload."""

import hashlib
import os

import pytest
import urllib3
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from signing.models import Bundle
from tests.conftest import vehicle_api
from tests.signing.conftest import download


def upload(api, data: bytes, path="hu-gen7/s3.bin", counter="500"):
    return api.post(
        "/api/v1/manage/bundles",
        {
            "path": path,
            "hardware_id": "hu-gen7",
            "version": "5.0",
            "release_counter": counter,
            "file": SimpleUploadedFile("s3.bin", data),
        },
        format="multipart",
    )


def object_bytes(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def copied(bundle_id: int, markets=None) -> Bundle:
    """What approving a release does for its bundles: copies into the markets' storage."""
    from signing.services.copies import copies_request

    copies_request(bundle=Bundle.objects.get(pk=bundle_id), markets=markets)
    return Bundle.objects.get(pk=bundle_id)


@pytest.mark.django_db
def test_an_upload_lands_in_the_home_bucket_and_is_copied_when_asked(
    engineer_api, repos, s3_regions, django_capture_on_commit_callbacks
):
    buckets, client = s3_regions
    data = os.urandom(100_000)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(engineer_api, data)
    assert response.status_code == 201, response.json()
    bundle = Bundle.objects.get()
    assert bundle.regions == []  # uploading copies nothing: a release's approval does
    assert object_bytes(client, buckets["US"], bundle.blob_name) == data

    with django_capture_on_commit_callbacks(execute=True):
        copied(bundle.pk)

    bundle.refresh_from_db()
    assert sorted(bundle.regions) == ["CN", "EU"]
    for bucket in buckets.values():
        assert object_bytes(client, bucket, bundle.blob_name) == data


@pytest.mark.django_db
def test_a_vehicle_is_redirected_to_a_short_lived_url_in_its_own_region(
    engineer_api, repos, s3_regions, provision, django_capture_on_commit_callbacks
):
    buckets, _ = s3_regions
    with django_capture_on_commit_callbacks(execute=True):
        bundle_id = upload(engineer_api, b"firmware").json()["id"]
        copied(bundle_id)
    engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/publish")
    _, token = provision(region="CN")

    response = vehicle_api(token).get("/api/v1/tuf/image/targets/hu-gen7/s3.bin")
    assert response.status_code == 302
    location = response["Location"]
    assert f"/{buckets['CN']}/" in location
    assert "X-Amz-Expires=300" in location
    anonymous = APIClient().get("/api/v1/tuf/image/targets/hu-gen7/s3.bin")
    assert f"/{buckets['US']}/" in anonymous["Location"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_tuf_client_downloads_through_the_redirect_and_verifies(
    engineer_api, repos, s3_regions, provision, tuf_client
):
    data = os.urandom(150_000)
    bundle_id = upload(engineer_api, data).json()["id"]
    copied(bundle_id)  # committed at once: the copy runs inline
    engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/publish")
    _, token = provision(region="EU")

    assert download(tuf_client(token=token), "hu-gen7/s3.bin") == data


@pytest.mark.django_db
def test_a_direct_upload_is_hashed_by_the_server_before_use(
    engineer_api, repos, s3_regions, django_capture_on_commit_callbacks
):
    buckets, client = s3_regions
    started = engineer_api.post(
        "/api/v1/manage/bundles/uploads",
        {
            "path": "adas-x1/big.bin",
            "hardware_id": "adas-x1",
            "version": "1.0",
            "release_counter": 10,
        },
        format="json",
    )
    assert started.status_code == 201, started.json()
    bundle_id = started.json()["bundle"]["id"]
    assert started.json()["bundle"]["status"] == "awaiting_upload"

    data = os.urandom(300_000)
    put = urllib3.request("PUT", started.json()["upload"]["url"], body=data)
    assert put.status == 200

    assert engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/publish").status_code == 409
    with django_capture_on_commit_callbacks(execute=True):
        completed = engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/complete")
    assert completed.status_code == 202

    bundle = engineer_api.get(f"/api/v1/manage/bundles/{bundle_id}").json()
    assert bundle["status"] == "verified"
    assert bundle["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert bundle["length"] == len(data)
    listed = client.list_objects_v2(Bucket=buckets["US"])["Contents"]
    assert [o["Key"] for o in listed] == [Bundle.objects.get().blob_name]  # incoming/ is gone


@pytest.mark.django_db
def test_completing_a_direct_upload_that_never_came_fails_the_bundle(
    engineer_api, repos, s3_regions, django_capture_on_commit_callbacks
):
    started = engineer_api.post(
        "/api/v1/manage/bundles/uploads",
        {"path": "a/b.bin", "hardware_id": "a", "version": "1", "release_counter": 1},
        format="json",
    )
    bundle_id = started.json()["bundle"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/complete")
    bundle = engineer_api.get(f"/api/v1/manage/bundles/{bundle_id}").json()
    assert bundle["status"] == "failed"
    assert "Nothing was uploaded" in bundle["failure"]


@pytest.mark.django_db
def test_a_verification_lost_with_its_task_is_queued_again_by_the_schedule(
    engineer_api, repos, s3_regions, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from signing.services.bundles import verification_stalled_after
    from signing.tasks import resume_stalled_verifications

    started = engineer_api.post(
        "/api/v1/manage/bundles/uploads",
        {
            "path": "adas-x1/lost.bin",
            "hardware_id": "adas-x1",
            "version": "1",
            "release_counter": 7,
        },
        format="json",
    )
    bundle_id = started.json()["bundle"]["id"]
    assert urllib3.request("PUT", started.json()["upload"]["url"], body=b"x" * 1000).status == 200
    with django_capture_on_commit_callbacks(execute=False):  # the queued task is lost
        assert engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/complete").status_code == 202

    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_verifications() == []  # it may still be running
    assert Bundle.objects.get().status == "verifying"

    long_ago = timezone.now() - verification_stalled_after() - timedelta(seconds=1)
    Bundle.objects.update(status_changed_at=long_ago)  # as if verifying that long
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_verifications() == [bundle_id]
    bundle = engineer_api.get(f"/api/v1/manage/bundles/{bundle_id}").json()
    assert bundle["status"] == "verified"
    assert bundle["length"] == 1000
