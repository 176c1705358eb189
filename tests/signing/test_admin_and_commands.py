import hashlib
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from signing.models import Bundle, RoleMetadata

pytestmark = pytest.mark.django_db


def test_a_small_bundle_uploads_through_the_admin(admin_client, repos):
    data = b"head unit image"
    response = admin_client.post(
        "/admin/signing/bundle/upload/",
        {
            "file": SimpleUploadedFile("hu.bin", data),
            "path": "hu-gen7/admin.bin",
            "hardware_id": "hu-gen7",
            "version": "7.3",
            "release_counter": 73,
        },
    )
    assert response.status_code == 302
    bundle = Bundle.objects.get()
    assert bundle.sha256 == hashlib.sha256(data).hexdigest()
    assert admin_client.get(response["Location"]).status_code == 200


def test_the_admin_upload_explains_a_refusal(admin_client, repos, publish):
    bundle, _ = publish()
    response = admin_client.post(
        "/admin/signing/bundle/upload/",
        {
            "file": SimpleUploadedFile("x.bin", b"x"),
            "path": bundle.path,
            "hardware_id": "hu-gen7",
            "version": "1",
            "release_counter": 99999,
        },
    )
    assert response.status_code == 200
    assert "exists already" in response.content.decode()


def test_publishing_from_the_admin_asks_first(admin_client, repos):
    call_command(
        "upload_bundle",
        __file__,
        hardware_id="tcu-gen3",
        bundle_version="3.1",
        release_counter=31,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    bundle = Bundle.objects.get()
    form = {"action": "publish", ACTION_CHECKBOX_NAME: [bundle.pk]}
    confirm = admin_client.post("/admin/signing/bundle/", form)
    assert b"Yes, publish" in confirm.content
    assert Bundle.objects.get().status == "verified"

    admin_client.post("/admin/signing/bundle/", {**form, "confirm": "yes"})
    assert Bundle.objects.get().status == "published"
    assert RoleMetadata.objects.filter(repo="image", role="targets", version=2).exists()


def test_upload_bundle_shows_progress_and_publishes(repos, tmp_path):
    path = tmp_path / "bms.bin"
    path.write_bytes(b"\x01" * 3_000_000)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "upload_bundle",
        str(path),
        hardware_id="bms-v2",
        bundle_version="2.1",
        release_counter=21,
        publish=True,
        stdout=out,
        stderr=err,
    )
    assert "100%" in err.getvalue()
    assert "Image targets version 2" in out.getvalue()
    assert Bundle.objects.get().path == "bms-v2/bms.bin"


def test_upload_bundle_refuses_a_lower_counter_clearly(repos, tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"a")
    call_command(
        "upload_bundle",
        str(path),
        hardware_id="hu",
        bundle_version="2",
        release_counter=2,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with pytest.raises(CommandError, match="must be higher"):
        call_command(
            "upload_bundle",
            str(path),
            target_path="hu/b.bin",
            hardware_id="hu",
            bundle_version="1",
            release_counter=1,
            stderr=io.StringIO(),
        )


def test_ota_init_is_safe_to_run_twice(db):
    out = io.StringIO()
    call_command("ota_init", stdout=out)
    call_command("ota_init", stdout=out)
    assert "already initialised" in out.getvalue()
    assert RoleMetadata.objects.filter(role="root").count() == 2
