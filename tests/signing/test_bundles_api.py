import hashlib
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from signing.models import Bundle, RoleMetadata

pytestmark = pytest.mark.django_db

URL = "/api/v1/manage/bundles"


def upload(api, data: bytes, **fields):
    body = {
        "path": "hu-gen7/hu-7.2.0.bin",
        "hardware_id": "hu-gen7",
        "version": "7.2.0",
        "release_counter": "72",
        **fields,
    }
    body["file"] = SimpleUploadedFile("hu.bin", data)
    return api.post(URL, body, format="multipart")


def test_an_upload_answers_201_with_length_and_hashes_computed_by_the_server(engineer_api, repos):
    data = os.urandom(300_000)
    response = upload(engineer_api, data)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["length"] == len(data)
    assert body["hashes"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }
    assert body["status"] == "verified"


def test_publishing_adds_the_bundle_to_image_targets_and_is_audited(engineer_api, engineer, repos):
    bundle_id = upload(engineer_api, b"firmware").json()["id"]
    response = engineer_api.post(f"{URL}/{bundle_id}/publish")

    assert response.status_code == 200
    assert response.json()["status"] == "published"
    assert response.json()["targets_version"] == 2
    targets = RoleMetadata.objects.get(repo="image", role="targets", version=2)
    assert b"hu-gen7/hu-7.2.0.bin" in bytes(targets.raw)
    assert RoleMetadata.objects.filter(repo="image", role="timestamp", version=2).exists()
    event = AuditEvent.objects.get(action="bundle.published")
    assert event.actor == engineer


def test_publishing_twice_is_a_conflict(engineer_api, repos):
    bundle_id = upload(engineer_api, b"firmware").json()["id"]
    engineer_api.post(f"{URL}/{bundle_id}/publish")
    response = engineer_api.post(f"{URL}/{bundle_id}/publish")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "bundle_state_conflict"


def test_a_duplicate_path_is_refused(engineer_api, repos):
    upload(engineer_api, b"one")
    response = upload(engineer_api, b"two", release_counter="73")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "bundle_path_taken"
    assert Bundle.objects.count() == 1


def test_a_release_counter_that_does_not_go_up_is_refused(engineer_api, repos):
    upload(engineer_api, b"one")
    response = upload(engineer_api, b"two", path="hu-gen7/older.bin", release_counter="71")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "release_counter_not_higher"
    assert error["detail"]["highest"] == 72


@pytest.mark.parametrize(
    "fields",
    [
        {"path": "../etc/passwd"},
        {"path": "/abs"},
        {"hardware_id": "hu gen7"},
        {"release_counter": "-1"},
        {"release_counter": "seven"},
        {"colour": "red"},
    ],
)
def test_bad_fields_are_400_and_store_nothing(engineer_api, repos, fields):
    response = upload(engineer_api, b"x", **fields)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert Bundle.objects.count() == 0


def test_an_upload_without_a_file_is_400(engineer_api, repos):
    response = engineer_api.post(
        URL,
        {"path": "a/b", "hardware_id": "hu", "version": "1", "release_counter": "1"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_missing"


def test_a_body_over_the_bundle_limit_is_413(engineer_api, repos, settings):
    settings.OTA_MAX_BUNDLE_BYTES = 1000
    response = upload(engineer_api, b"x" * 5000)
    assert response.status_code == 413
    assert Bundle.objects.count() == 0


def test_publishing_needs_the_publish_permission(approver_api, engineer_api, repos):
    bundle_id = upload(engineer_api, b"firmware").json()["id"]
    assert approver_api.post(f"{URL}/{bundle_id}/publish").status_code == 403
    assert approver_api.get(f"{URL}/{bundle_id}").status_code == 200
    assert upload(approver_api, b"x", path="a/other.bin", release_counter="90").status_code == 403


def test_direct_upload_needs_s3_storage(engineer_api, repos):
    response = engineer_api.post(
        f"{URL}/uploads",
        {"path": "a/b.bin", "hardware_id": "hu", "version": "1", "release_counter": 1},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "direct_upload_unavailable"
