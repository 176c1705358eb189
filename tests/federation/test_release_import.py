"""An import signed by the trusted key is still held to the rules the management API holds
people to, reads only regular files of its folder, and publishes only the bytes its manifest
names: anything else is `Refused: …` with nothing published."""

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance.models import KeyPurpose
from compliance.services.keys import export_key_active, export_sign, public_key_pem
from rollouts.models import Release
from signing import repository, storage
from signing.models import Bundle, Repo
from signing.models import Role as RoleName

pytestmark = pytest.mark.django_db

SIGNED = b"the bundle the main deployment signed " * 100
OTHER = b"other bytes swapped in on the way here" * 100  # as long as SIGNED


class Export:
    """An export folder as release_export writes it, whose manifest a test may change and
    sign again with the trusted key (what a bug or a stolen key in the main deployment could
    sign)."""

    def __init__(self, folder: Path, manifest: dict) -> None:
        self.folder = folder
        self.manifest = manifest
        self.bundle_file = folder / "bundles" / manifest["bundles"][0]["sha256"]

    def sign(self) -> None:
        data = json.dumps(self.manifest, indent=1, sort_keys=True).encode()
        (self.folder / "release.json").write_bytes(data)
        key = export_key_active(KeyPurpose.RELEASES)
        (self.folder / "release.json.sig").write_bytes(export_sign(key, data))

    def refused(self) -> str:
        """The import's refusal, as the operator reads it (manage.py exits 1 with it)."""
        with pytest.raises(CommandError) as refusal:
            call_command("release_import", str(self.folder))
        assert str(refusal.value).startswith("Refused: ")
        return str(refusal.value)


@pytest.fixture
def export(repos, settings, tmp_path) -> Export:
    pem = tmp_path / "main-releases.pem"
    pem.write_text(public_key_pem(export_key_active(KeyPurpose.RELEASES)))
    settings.OTA_RELEASE_IMPORT_KEYS = [str(pem)]
    sha256 = hashlib.sha256(SIGNED).hexdigest()
    folder = tmp_path / "export"
    (folder / "bundles").mkdir(parents=True)
    (folder / "bundles" / sha256).write_bytes(SIGNED)
    made = Export(
        folder,
        {
            "format": "ota-release-export/1",
            "source": "main",
            "exported_at": "2026-12-01T10:00:00+00:00",
            "markets": ["CN"],
            "release": {
                "version": "13.0.0",
                "notes": "",
                "models": ["Aurora"],
                "regions": ["CN"],
                "install_policy": {},
                "author": "erin",
                "approved_by": "ada",
                "approved_at": "2026-12-01T09:00:00+00:00",
            },
            "market_approvals": [],
            "rxswins": [],
            "bundles": [
                {
                    "path": "hu-gen7/hu-13.0.0.bin",
                    "hardware_id": "hu-gen7",
                    "version": "13.0.0",
                    "release_counter": 130,
                    "length": len(SIGNED),
                    "sha256": sha256,
                    "sha512": hashlib.sha512(SIGNED).hexdigest(),
                    "requires": {},
                    "file": f"bundles/{sha256}",
                }
            ],
        },
    )
    made.sign()
    return made


@pytest.fixture
def nothing_published(export, settings):
    """After the test: no release, no bundle, the same Image targets, no byte in storage."""
    before = _image_targets()
    yield
    assert not Release.objects.exists()
    assert not Bundle.objects.exists()
    assert _image_targets() == before
    home = Path(settings.STORAGES["bundles"]["OPTIONS"]["location"])
    assert not [p for p in home.rglob("*") if p.is_file()]


def _image_targets() -> dict:
    return repository.load(repository.latest(Repo.IMAGE, RoleName.TARGETS)).signed.to_dict()[
        "targets"
    ]


def test_the_export_as_written_is_imported(export):
    call_command("release_import", str(export.folder), stdout=io.StringIO())

    bundle = Bundle.objects.get()
    assert bundle.sha256 == export.manifest["bundles"][0]["sha256"]
    assert Release.objects.get().version == "13.0.0"


@pytest.mark.parametrize(
    "path",
    ["../../../../tmp/evil.bin", "/abs/evil.bin", "hu-gen7/evil\x00.bin"],
    ids=["parent", "absolute", "nul"],
)
def test_a_bundle_path_the_api_refuses_is_refused(export, nothing_published, path):
    export.manifest["bundles"][0]["path"] = path
    export.sign()

    assert "is not a target path" in export.refused()


def test_a_hardware_id_the_api_refuses_is_refused(export, nothing_published):
    export.manifest["bundles"][0]["hardware_id"] = "../x"
    export.sign()

    assert "'../x' is not a hardware id" in export.refused()


def test_a_release_counter_beyond_what_a_bundle_holds_is_refused(export, nothing_published):
    export.manifest["bundles"][0]["release_counter"] = 2**70
    export.sign()

    assert "release_counter is not a whole number from 0 to 2147483647" in export.refused()


def test_a_bundle_listed_twice_is_refused(export, nothing_published):
    export.manifest["bundles"].append(dict(export.manifest["bundles"][0]))
    export.sign()

    assert "bundle 'hu-gen7/hu-13.0.0.bin' is listed twice" in export.refused()


def test_a_release_with_one_bundle_changed_keeps_none_of_the_others_bytes(
    export, nothing_published
):
    sha256 = hashlib.sha256(OTHER).hexdigest()
    (export.folder / "bundles" / sha256).write_bytes(OTHER[:-1] + b"!")  # changed on the way
    export.manifest["bundles"].append(
        {
            **export.manifest["bundles"][0],
            "path": "bms/bms-13.0.0.bin",
            "hardware_id": "bms",
            "sha256": sha256,
            "sha512": hashlib.sha512(OTHER).hexdigest(),
            "file": f"bundles/{sha256}",
        }
    )
    export.sign()

    assert "bms/bms-13.0.0.bin: the file does not match" in export.refused()


def test_a_bundle_file_that_is_a_link_is_refused(export, nothing_published, tmp_path):
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(SIGNED)  # the very bytes signed: it is the link that is refused
    export.bundle_file.unlink()
    export.bundle_file.symlink_to(elsewhere)

    assert "is a symbolic link" in export.refused()


def test_a_manifest_that_is_a_link_is_refused(export, nothing_published, tmp_path):
    moved = tmp_path / "release.json"
    shutil.move(export.folder / "release.json", moved)
    (export.folder / "release.json").symlink_to(moved)

    assert "release.json is a symbolic link" in export.refused()


def test_a_bundles_folder_that_is_a_link_is_refused(export, nothing_published, tmp_path):
    moved = tmp_path / "bundles-elsewhere"
    shutil.move(export.folder / "bundles", moved)
    (export.folder / "bundles").symlink_to(moved)

    assert "bundles is a symbolic link" in export.refused()


def _overwrite(path: Path, data: bytes) -> None:
    """In place, as another process writing to the file would: open handles see it too."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def _opening(monkeypatch, path: Path, then):
    """Every file object opened on `path` (by name or descriptor) goes through `then`."""
    real_open = io.open
    inode = path.stat().st_ino

    def open_watched(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        named = isinstance(file, (str, os.PathLike)) and Path(file) == path
        if named or (isinstance(file, int) and os.fstat(file).st_ino == inode):
            return then(handle)
        return handle

    monkeypatch.setattr(io, "open", open_watched)


class SwappedOnceRead:
    """A bundle file another process overwrites the moment a reader reaches its end."""

    def __init__(self, handle, path: Path) -> None:
        self.handle, self.path = handle, path

    def read(self, size=-1):
        block = self.handle.read(size)
        if not block:
            _overwrite(self.path, OTHER)
        return block

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_a_bundle_file_swapped_after_it_was_read_changes_nothing_published(
    export, monkeypatch, settings
):
    _opening(monkeypatch, export.bundle_file, lambda h: SwappedOnceRead(h, export.bundle_file))

    call_command("release_import", str(export.folder), stdout=io.StringIO())

    signed = export.manifest["bundles"][0]
    assert _image_targets()[signed["path"]]["hashes"]["sha256"] == signed["sha256"]
    bundle = Bundle.objects.get()
    assert bundle.sha256 == signed["sha256"]
    with storage.bundle_storage().open(bundle.blob_name, "rb") as stored:
        assert stored.read() == SIGNED
    home = Path(settings.STORAGES["bundles"]["OPTIONS"]["location"])
    assert [p.name for p in home.rglob("*") if p.is_file()] == [signed["sha256"]]


def test_a_bundle_file_swapped_once_opened_is_refused_and_leaves_nothing(
    export, nothing_published, monkeypatch
):
    def swapped(handle):
        _overwrite(export.bundle_file, OTHER)
        return handle

    _opening(monkeypatch, export.bundle_file, swapped)

    assert "does not match its length and hashes" in export.refused()
