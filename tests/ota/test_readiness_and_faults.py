"""Readiness apart from liveness, and a storage fault answered 503 with nothing half-written."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError

from ota import views
from signing.models import Bundle

pytestmark = pytest.mark.django_db


def break_storage(settings, tmp_path) -> None:
    """Bundle storage whose folder cannot be created: a file stands where it should be."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "bundles")},
        },
    }


@pytest.fixture
def broken_storage(settings, tmp_path):
    break_storage(settings, tmp_path)


def test_readyz_is_200_when_database_cache_and_storage_answer(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok", "storage": "ok"},
    }
    assert "no-cache" in answer["Cache-Control"]


def test_readyz_is_503_naming_storage_that_cannot_be_written(client, broken_storage):
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "10"
    checks = answer.json()["checks"]
    assert checks["storage"].startswith("down (")
    assert (checks["database"], checks["cache"]) == ("ok", "ok")


def test_readyz_is_503_naming_a_database_that_does_not_answer(client, monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setitem(views.CHECKS, "database", refuse)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "down (OperationalError)"


def test_readyz_is_503_naming_a_cache_that_keeps_nothing(client, monkeypatch):
    monkeypatch.setattr(views.cache, "get", lambda key: None)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["cache"] == "down (RuntimeError)"


def test_healthz_stays_alive_whatever_is_down(client, broken_storage):
    assert client.get("/healthz").status_code == 200


def test_an_upload_to_storage_that_cannot_be_written_is_503_and_records_nothing(
    engineer_api, repos, broken_storage
):
    body = {
        "path": "hu-gen7/hu-7.2.0.bin",
        "hardware_id": "hu-gen7",
        "version": "7.2.0",
        "release_counter": "72",
        "file": SimpleUploadedFile("hu.bin", os.urandom(10_000)),
    }
    answer = engineer_api.post("/api/v1/manage/bundles", body, format="multipart")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "30"
    assert answer.json()["error"]["code"] == "storage_unavailable"
    assert Bundle.objects.count() == 0


def test_a_download_from_storage_that_cannot_be_read_is_503(client, publish, settings, tmp_path):
    bundle, _ = publish(hardware_id="hu-gen7")
    break_storage(settings, tmp_path)  # after the publish stored the bytes
    answer = client.get(f"/api/v1/tuf/image/targets/{bundle.path}")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "storage_unavailable"
    assert answer["Retry-After"] == "30"
