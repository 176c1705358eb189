import hashlib
import io
import os
from pathlib import Path

import pytest
from tuf.ngclient import Updater

from signing import repository
from signing.models import Repo
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish
from vehicle_client.fetcher import BearerFetcher


@pytest.fixture
def repos(db):
    """Both repositories initialised with local keys, as `ota_init` does."""
    repository.repository_initialize(repo=Repo.IMAGE)
    repository.repository_initialize(repo=Repo.DIRECTOR)


@pytest.fixture
def publish(repos):
    """Upload and publish a bundle through the services; returns (bundle, bytes)."""
    counter = iter(range(100, 10_000))

    def publish_one(data: bytes | None = None, *, path: str | None = None, hardware_id="hu-gen7"):
        data = data if data is not None else os.urandom(200_000)
        number = next(counter)
        spec = BundleSpec(
            path=path or f"{hardware_id}/image-{number}.bin",
            hardware_id=hardware_id,
            version=f"7.{number}.0",
            release_counter=number,
        )
        bundle = bundle_ingest_file(spec=spec, stream=io.BytesIO(data), actor=None)
        bundle, _ = bundle_publish(bundle=bundle, actor=None)
        assert bundle.sha256 == hashlib.sha256(data).hexdigest()
        return bundle, data

    return publish_one


def root_v1() -> bytes:
    return bytes(
        repository.latest(Repo.IMAGE, "root")
        .__class__.objects.get(repo=Repo.IMAGE, scope="", role="root", version=1)
        .raw
    )


@pytest.fixture
def tuf_client(live_server, tmp_path):
    """A python-tuf ngclient Updater against the live server, bootstrapped with root v1."""

    def make(name: str = "client", *, token: str | None = None, bootstrap: bytes | None = None):
        metadata_dir = tmp_path / name / "metadata"
        targets_dir = tmp_path / name / "targets"
        for directory in (metadata_dir, targets_dir):
            directory.mkdir(parents=True, exist_ok=True)
        trusted = metadata_dir / "root.json"
        return Updater(
            metadata_dir=str(metadata_dir),
            metadata_base_url=f"{live_server.url}/api/v1/tuf/image/metadata/",
            target_dir=str(targets_dir),
            target_base_url=f"{live_server.url}/api/v1/tuf/image/targets/",
            fetcher=BearerFetcher(token),
            bootstrap=None if trusted.exists() else (bootstrap or root_v1()),
        )

    return make


def download(updater: Updater, path: str) -> bytes:
    updater.refresh()
    info = updater.get_targetinfo(path)
    assert info is not None, f"{path} is not in the verified targets"
    return Path(updater.download_target(info)).read_bytes()
