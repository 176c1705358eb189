from pathlib import Path

import pytest
from tuf.ngclient import Updater

from signing import repository
from signing.models import Repo
from vehicle_client.fetcher import BearerFetcher


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
