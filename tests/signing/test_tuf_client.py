"""python-tuf's ngclient, an independent TUF 1.0 client, against our Image repository."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from tuf.api import exceptions

from signing import repository, storage
from signing.models import Repo, RoleMetadata
from tests.signing.conftest import download

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_tuf_client_verifies_and_downloads_a_published_bundle(publish, tuf_client):
    bundle, data = publish()
    assert download(tuf_client(), bundle.path) == data


def test_the_target_entry_carries_our_custom_fields(publish, tuf_client):
    bundle, _ = publish()
    updater = tuf_client()
    updater.refresh()
    custom = updater.get_targetinfo(bundle.path).custom
    assert custom == {
        "hardware_id": "hu-gen7",
        "version": bundle.version,
        "release_counter": bundle.release_counter,
    }


def test_a_client_refuses_a_bundle_whose_bytes_changed_in_storage(publish, tuf_client):
    bundle, _ = publish()
    path = storage.bundle_storage().path(bundle.blob_name)
    with open(path, "r+b") as handle:
        handle.write(b"\x00" * 16)  # same length, other bytes
    updater = tuf_client()
    updater.refresh()
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.download_target(updater.get_targetinfo(bundle.path))


def test_a_client_refuses_an_expired_timestamp(publish, tuf_client):
    publish()
    long_ago = timezone.now() - timedelta(days=3)
    repository.image_add_targets(targets=[], now=long_ago)  # signs a timestamp that has expired
    with pytest.raises(exceptions.ExpiredMetadataError):
        tuf_client().refresh()


def test_a_client_refuses_metadata_rolled_back_to_an_older_version(publish, tuf_client):
    publish()
    updater = tuf_client()
    updater.refresh()
    newest = RoleMetadata.objects.filter(repo=Repo.IMAGE, role="timestamp").order_by("-version")
    version = newest.first().version
    publish()
    # An attacker (or a broken replica) serves an older timestamp than the client has seen.
    RoleMetadata.objects.filter(repo=Repo.IMAGE, role="timestamp", version__gte=version).delete()
    with pytest.raises(exceptions.BadVersionNumberError):
        tuf_client().refresh()


def test_a_client_refuses_a_snapshot_that_does_not_match_the_timestamp(publish, tuf_client):
    publish()
    snapshot = repository.latest(Repo.IMAGE, "snapshot")
    raw = bytes(snapshot.raw)
    at = raw.index(b'"version":') + len(b'"version":')
    snapshot.raw = raw[:at] + (b"7" if raw[at : at + 1] != b"7" else b"8") + raw[at + 1 :]
    snapshot.save()  # same length, other bytes: the timestamp's hash no longer matches
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        tuf_client().refresh()


def test_after_a_key_rotation_existing_and_fresh_clients_both_follow(publish, tuf_client):
    bundle, data = publish()
    existing = tuf_client("existing")
    existing.refresh()

    call_command("rotate_key", repo="image", role="timestamp", stdout=None)
    call_command("rotate_key", repo="image", role="targets", stdout=None)
    assert repository.latest(Repo.IMAGE, "root").version == 3

    again = tuf_client("existing")  # the same client, restarted with its cached metadata
    assert download(again, bundle.path) == data
    assert download(tuf_client("fresh"), bundle.path) == data


def test_offline_root_keys_rotate_with_a_threshold_of_two(db, tmp_path, publish, tuf_client):
    RoleMetadata.objects.all().delete()
    from signing.models import Repository, SigningKey

    Repository.objects.all().delete()
    SigningKey.objects.all().delete()
    call_command(
        "ota_init", repo=["image"], root_threshold=2, offline_root=tmp_path / "custody", stdout=None
    )
    assert not SigningKey.objects.filter(role="root", encrypted_private_key__isnull=False).exists()
    bundle, data = publish()
    existing = tuf_client("existing")
    existing.refresh()

    call_command(
        "sign_root",
        repo="image",
        rotate=["root"],
        root_keys=tmp_path / "custody/image",
        offline_root=tmp_path / "custody2",
        stdout=None,
    )

    assert download(tuf_client("existing"), bundle.path) == data
    assert download(tuf_client("fresh"), bundle.path) == data
    assert len(list((tmp_path / "custody2").glob("*.pem"))) == 2
