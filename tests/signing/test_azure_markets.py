"""Markets on Azure Blob Storage (Azurite over HTTP) beside one on S3 (moto): a bundle is
copied into each market's own storage, and a car is redirected to a read-only SAS URL for the
one blob in its own market."""

import os
from urllib.parse import parse_qs, urlparse

import pytest
import urllib3
from django.core.files.uploadedfile import SimpleUploadedFile

from signing.models import Bundle
from tests.conftest import vehicle_api
from tests.signing.conftest import download
from tests.signing.test_s3_storage import copied


def upload(api, data: bytes, path="hu-gen7/azure.bin"):
    return api.post(
        "/api/v1/manage/bundles",
        {
            "path": path,
            "hardware_id": "hu-gen7",
            "version": "6.0",
            "release_counter": "600",
            "file": SimpleUploadedFile("azure.bin", data),
        },
        format="multipart",
    )


def blob_bytes(service, container: str, name: str) -> bytes:
    return service.get_blob_client(container, name).download_blob().readall()


@pytest.mark.django_db
def test_a_bundle_is_copied_into_the_s3_and_azure_markets(
    engineer_api, repos, azure_markets, django_capture_on_commit_callbacks
):
    containers, service = azure_markets
    data = os.urandom(120_000)

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(engineer_api, data).status_code == 201
        copied(Bundle.objects.get().pk)

    bundle = Bundle.objects.get()
    assert sorted(bundle.regions) == ["CN", "EU"]
    for container in containers.values():
        assert blob_bytes(service, container, bundle.blob_name) == data


@pytest.mark.django_db
def test_a_car_is_sent_to_a_read_only_url_for_the_one_blob_in_its_own_market(
    engineer_api, repos, azure_markets, provision, django_capture_on_commit_callbacks
):
    containers, _ = azure_markets
    data = os.urandom(50_000)
    with django_capture_on_commit_callbacks(execute=True):
        bundle_id = upload(engineer_api, data).json()["id"]
        copied(bundle_id)
    engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/publish")
    blob = Bundle.objects.get().blob_name

    for market in ("EU", "CN"):
        _, token = provision(region=market)
        answer = vehicle_api(token).get("/api/v1/tuf/image/targets/hu-gen7/azure.bin")

        assert answer.status_code == 302
        url = urlparse(answer["Location"])
        assert url.path.endswith(f"/{containers[market]}/{blob}")  # its market's container
        sas = parse_qs(url.query)
        assert (sas["sp"], sas["sr"]) == (["r"], ["b"])  # read, this blob only
        assert "se" in sas  # and it expires
        fetched = urllib3.request("GET", answer["Location"])
        assert (fetched.status, fetched.data) == (200, data)
        refused = urllib3.request(
            "PUT", answer["Location"], body=b"x", headers={"x-ms-blob-type": "BlockBlob"}
        )
        assert refused.status == 403  # the URL lets no one write


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_tuf_client_in_an_azure_market_downloads_through_the_redirect_and_verifies(
    engineer_api, repos, azure_markets, provision, tuf_client
):
    data = os.urandom(150_000)
    bundle_id = upload(engineer_api, data).json()["id"]
    copied(bundle_id)  # committed at once: the copy runs inline
    engineer_api.post(f"/api/v1/manage/bundles/{bundle_id}/publish")
    _, token = provision(region="CN")

    assert download(tuf_client(token=token), "hu-gen7/azure.bin") == data
