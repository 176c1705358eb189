"""The Image timestamp.json kept per process for a lease: fewer reads, and never a rollback.

A car's requests land on any process of any node, and ngclient refuses a timestamp older than
one it has seen; signing/metadata_cache.py explains the two rules that keep every process from
serving an older version after any has served a newer one."""

import json
import random
from dataclasses import dataclass, field

import pytest

from signing import metadata_cache
from signing.metadata_cache import COMMIT_MARGIN_SECONDS, LeasedMetadata, Newest
from signing.models import Repo, RoleMetadata
from signing.selectors import newest_metadata
from signing.views import IMAGE_TIMESTAMP

TIMESTAMP = "/api/v1/tuf/image/metadata/timestamp.json"


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def reads_of(*answers: Newest | None):
    """A read function that answers in turn and counts its calls."""
    queue = list(answers)

    def read():
        read.calls += 1
        return queue.pop(0) if len(queue) > 1 else queue[0]

    read.calls = 0
    return read


def test_a_copy_is_served_for_the_lease_and_read_again_after():
    clock = Clock()
    read = reads_of(Newest(b"v1", 1, None), Newest(b"v2", 2, None))
    cache = LeasedMetadata(read, clock)
    assert cache.get(lease=1.0).raw == b"v1"
    clock.now += 0.99
    assert cache.get(lease=1.0).raw == b"v1"
    assert read.calls == 1
    clock.now += 0.01
    assert cache.get(lease=1.0).raw == b"v2"
    assert read.calls == 2


def test_a_newer_version_waiting_to_be_served_shortens_the_lease_to_its_moment():
    clock = Clock()
    read = reads_of(Newest(b"v1", 1, pending_in=0.25), Newest(b"v2", 2, None))
    cache = LeasedMetadata(read, clock)
    assert cache.get(lease=1.0).raw == b"v1"
    clock.now += 0.25
    assert cache.get(lease=1.0).raw == b"v2"


def test_without_a_lease_every_request_reads():
    read = reads_of(Newest(b"v1", 1, None))
    cache = LeasedMetadata(read, Clock())
    for _ in range(3):
        cache.get(lease=0.0)
    assert read.calls == 3


def test_the_etag_is_the_sha256_of_the_copy():
    copy = LeasedMetadata(reads_of(Newest(b"bytes", 1, None)), Clock()).get(lease=1.0)
    assert copy.etag == '"277089d91c0bdf4f2e6862ba7e4a07605119431f5d13f726dd352b06f1b206a9"'


def test_nothing_stored_is_nothing_served_and_nothing_kept():
    read = reads_of(None, Newest(b"v1", 1, None))
    cache = LeasedMetadata(read, Clock())
    assert cache.get(lease=1.0) is None
    assert cache.get(lease=1.0).raw == b"v1"


# --- several nodes, one database: a model of time --------------------------------------------


@dataclass
class Database:
    """Versions with the moment their INSERT ran, their COMMIT, and their serve_from."""

    lease: float
    rows: list[tuple[int, float, float]] = field(default_factory=list)  # version, commit, serve

    def publish(self, inserted: float, commit_delay: float) -> None:
        version = len(self.rows) + 1
        self.rows.append(
            (version, inserted + commit_delay, inserted + self.lease + COMMIT_MARGIN_SECONDS)
        )

    def newest(self, at: float) -> Newest | None:
        visible = [row for row in self.rows if row[1] <= at]
        servable = [row for row in visible if row[2] <= at]
        if not servable:
            return None
        version = max(row[0] for row in servable)
        pending = [row[2] - at for row in visible if row[0] > version]
        return Newest(f"v{version}".encode(), version, min(pending) if pending else None)


@pytest.mark.parametrize("seed", range(40))
def test_no_node_serves_an_older_version_after_any_node_served_a_newer_one(seed):
    """Random publishes (each committing up to the margin after its INSERT) and requests on
    six nodes, each with its own clock offset; a read takes time, and the database answers as
    of a moment inside it. Whatever the order, what is served never goes back."""
    rng = random.Random(seed)
    lease = rng.choice([0.5, 1.0, 3.0])
    database = Database(lease)
    database.publish(inserted=0.0, commit_delay=0.0)
    now = [COMMIT_MARGIN_SECONDS + lease]  # global time; version 1 servable

    def node(offset: float) -> LeasedMetadata:
        def read():
            now[0] += rng.uniform(0, 0.01)  # the statement runs a little after the read began
            return database.newest(now[0])

        return LeasedMetadata(read, lambda: now[0] + offset)

    nodes = [node(rng.uniform(-1000, 1000)) for _ in range(6)]
    highest = 0
    for _ in range(3000):
        now[0] += rng.expovariate(200)
        if rng.random() < 0.01:
            database.publish(now[0], commit_delay=rng.uniform(0, COMMIT_MARGIN_SECONDS * 0.99))
            continue
        served = rng.choice(nodes).get(lease).version
        assert served >= highest, f"served v{served} after v{highest} at t={now[0]:.3f}"
        highest = served
    assert highest > 3  # versions did move on while being served


# --- through the interface, on the real database ---------------------------------------------


@pytest.fixture
def leased(settings):
    settings.OTA_IMAGE_TIMESTAMP_LEASE_SECONDS = 1
    IMAGE_TIMESTAMP.forget()
    yield
    IMAGE_TIMESTAMP.forget()


def served_version(client) -> int:
    answer = client.get(TIMESTAMP)
    assert answer.status_code == 200
    return json.loads(answer.content)["signed"]["version"]


@pytest.mark.django_db
def test_a_version_signed_with_a_lease_is_served_after_lease_and_margin(client, publish, leased):
    before = served_version(client)
    publish()
    stored = RoleMetadata.objects.filter(repo=Repo.IMAGE, role="timestamp").order_by("-version")
    newest = stored.first()
    assert newest.version > before
    assert newest.serve_from is not None
    waiting = newest_metadata(Repo.IMAGE, "timestamp")
    assert waiting.version == before
    assert 0 < waiting.pending_in <= 1 + COMMIT_MARGIN_SECONDS
    IMAGE_TIMESTAMP.forget()  # the process's copy is not what holds it back
    assert served_version(client) == before

    waited = metadata_cache.wait_until_image_servable()
    assert 0 < waited <= 1 + COMMIT_MARGIN_SECONDS
    assert served_version(client) == newest.version


@pytest.mark.django_db
def test_the_unversioned_snapshot_and_targets_wait_with_the_timestamp(client, publish, leased):
    """An older client reads snapshot.json and targets.json by name: they must agree with the
    timestamp being served."""
    listed = json.loads(client.get(TIMESTAMP).content)["signed"]["meta"]["snapshot.json"]
    publish()
    snapshot = json.loads(client.get("/api/v1/tuf/image/metadata/snapshot.json").content)
    assert snapshot["signed"]["version"] == listed["version"]


@pytest.mark.django_db
def test_the_cached_copy_answers_conditional_requests(client, repos, leased):
    first = client.get(TIMESTAMP)
    again = client.get(TIMESTAMP, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["Cache-Control"] == "public, no-cache"


@pytest.mark.django_db
def test_a_rollout_start_waits_until_the_image_repository_lists_its_targets(
    publish, ship, leased, monkeypatch
):
    slept = []
    monkeypatch.setattr(metadata_cache.time, "sleep", slept.append)
    bundle, _ = publish()
    ship([bundle])
    assert len(slept) == 1
    assert 0 < slept[0] <= 1 + COMMIT_MARGIN_SECONDS


@pytest.mark.django_db
def test_without_a_lease_metadata_is_served_at_once_and_nothing_waits(client, publish):
    before = served_version(client)
    publish()
    assert RoleMetadata.objects.filter(repo=Repo.IMAGE, serve_from__isnull=False).count() == 0
    assert served_version(client) > before
    assert metadata_cache.wait_until_image_servable() == 0.0
