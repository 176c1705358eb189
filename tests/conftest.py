import contextlib
import hashlib
import io
import os

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from accounts.services import user_token_create
from audit.models import AuditEvent
from ota.devserver import disable_nagle
from rollouts.models import Ecu, Vehicle, VehicleToken
from rollouts.roles import APPROVER, HOMOLOGATION, RELEASE_ENGINEER
from signing import repository
from signing.models import Repo
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish
from tests.factories import vehicle_payload

# live_server answers without a 40 ms wait per kept-alive request (ota/devserver.py).
disable_nagle()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Bundles and other files of a test go to its own folder, never to var/."""
    settings.VAR_DIR = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "bundles")},
        },
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "evidence")},
        },
    }


@pytest.fixture(autouse=True)
def _idle_polls_verified(settings):
    """Every idle poll also makes its decision in full and fails the test on a difference:
    a change that forgot to bump a decision version (rollouts/services/decisions.py)."""
    from rollouts.services.manifests import IDLE_POLL_MISMATCHES

    settings.OTA_VERIFY_IDLE_POLLS = True
    IDLE_POLL_MISMATCHES.clear()
    yield
    assert not IDLE_POLL_MISMATCHES, IDLE_POLL_MISMATCHES


@pytest.fixture(autouse=True)
def _image_metadata_served_at_once(settings):
    """A test that signs Image metadata reads it back at once: no lease, no process copy.
    tests/signing/test_metadata_cache.py runs with a lease."""
    from signing.views import IMAGE_TIMESTAMP

    settings.OTA_IMAGE_TIMESTAMP_LEASE_SECONDS = 0
    IMAGE_TIMESTAMP.forget()
    yield
    IMAGE_TIMESTAMP.forget()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and poll counts start from nothing in every test."""
    from django.core.cache import cache

    from rollouts.services import manifests

    cache.clear()
    manifests._last_minute[:] = [0, 0]  # the finished minute's count a process keeps
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_market_requires_type_approval(settings):
    """A market's type approval is its own step (tests/compliance, `type_approval`): other
    tests ship a release without it, as a deployment with OTA_TYPE_APPROVAL_MARKETS=none."""
    settings.OTA_TYPE_APPROVAL_MARKETS = []


@pytest.fixture
def type_approval(settings):
    """EU and CN ask for a homologation engineer's approval of each release."""
    settings.OTA_TYPE_APPROVAL_MARKETS = ["EU", "CN"]


@pytest.fixture
def homologation_api(make_user) -> APIClient:
    return _token_client(make_user("hana", HOMOLOGATION))


@pytest.fixture
def aurora_rxswins(homologation_api):
    """Register Aurora's first RXSWIN in each market given, as a homologation engineer does
    before approving releases there."""

    def register(*markets: str) -> None:
        for market in markets:
            registered = homologation_api.post(
                "/api/v1/manage/rxswins",
                {"model": "Aurora", "market": market, "rxswin": f"R156-AUR-{market}-0001"},
                format="json",
            )
            assert registered.status_code == 201, registered.json()

    return register


@pytest.fixture(autouse=True)
def _tasks_run_inline(monkeypatch):
    """django-q2 runs each queued task at once, in the test's process (sync mode)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def make_user(db):
    def make(username: str, *groups: str, **extra) -> User:
        user = User.objects.create_user(username=username, password="pw-" + username, **extra)
        user.groups.set(Group.objects.filter(name__in=groups))
        return user

    return make


@pytest.fixture
def staff(client, make_user):
    """The admin's test client, logged in as a new staff member of these groups."""

    def login(name: str, *groups: str):
        client.force_login(make_user(name, *groups, is_staff=True))
        return client

    return login


def _token_client(user: User) -> APIClient:
    client = APIClient()
    _, token = user_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def engineer(make_user) -> User:
    return make_user("erin", RELEASE_ENGINEER)


@pytest.fixture
def engineer_api(engineer) -> APIClient:
    """The management API as a release engineer, authenticated with a DRF token."""
    return _token_client(engineer)


@pytest.fixture
def approver_api(make_user) -> APIClient:
    return _token_client(make_user("ada", APPROVER))


@pytest.fixture
def anonymous_api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def provision(engineer_api):
    """Provision a vehicle through the API; returns (answer json, token)."""

    def provision_one(**overrides):
        response = engineer_api.post(
            "/api/v1/manage/vehicles", vehicle_payload(**overrides), format="json"
        )
        assert response.status_code == 201, response.json()
        body = response.json()
        return body, body["token"]

    return provision_one


def vehicle_api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def fleet_unchanged(db):
    """Assert that a block changes no fleet row and writes no audit row."""

    def counts():
        return [m.objects.count() for m in (Vehicle, Ecu, VehicleToken, AuditEvent)]

    @contextlib.contextmanager
    def check():
        before = counts()
        yield
        assert counts() == before

    return check


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3/KMS endpoint over HTTP on 127.0.0.1 (moto's threaded server)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# Azurite's well-known development account (public in Microsoft's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azure Blob Storage over HTTP on 127.0.0.1: Azurite (npm `azurite@3.35.0`, which
    `.ci/run` installs), in its own process and folder; its connection string."""
    import shutil
    import socket
    import subprocess
    import time

    program = shutil.which("azurite-blob")
    if program is None:
        message = "Azurite is not installed: npm install -g azurite@3.35.0 (.ci/run does)"
        if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("azurite")
    server = subprocess.Popen(
        [
            program,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(folder),
            "--silent",
            "--skipApiVersionCheck",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("Azurite did not start within 10 s")
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine: Node may not stop in time
            server.kill()
            server.wait()


@pytest.fixture
def azure_markets(settings, azurite, s3_regions):
    """US on S3 (the home bucket), EU and CN each in an Azure container of their own, as
    OTA_AZURE_MARKETS=EU,CN configures; the containers' names by market."""
    import uuid

    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite)
    run = uuid.uuid4().hex[:8]
    containers = {market: f"ota-{market.lower()}-{run}" for market in ("EU", "CN")}
    storages = dict(settings.STORAGES)
    for market, container in containers.items():
        service.create_container(container)
        storages[f"bundles-{market}"] = {
            "BACKEND": "storages.backends.azure_storage.AzureStorage",
            "OPTIONS": {
                "connection_string": azurite,
                "azure_container": container,
                "expiration_secs": 300,
                "overwrite_files": True,
            },
        }
    settings.STORAGES = storages
    return containers, service


@pytest.fixture
def mixed_markets(settings, azurite, s3_regions):
    """US the home S3 bucket, EU a bucket of its own on S3, CN a container of its own on
    Azure (China's cloud is operated apart): (buckets, container)."""
    import uuid

    from azure.storage.blob import BlobServiceClient

    buckets, _ = s3_regions
    container = f"ota-cn-{uuid.uuid4().hex[:8]}"
    BlobServiceClient.from_connection_string(azurite).create_container(container)
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles-CN": {
            "BACKEND": "storages.backends.azure_storage.AzureStorage",
            "OPTIONS": {
                "connection_string": azurite,
                "azure_container": container,
                "expiration_secs": 300,
                "overwrite_files": True,
            },
        },
    }
    return buckets, container


@pytest.fixture
def aws_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3_regions(settings, moto_endpoint, aws_credentials):
    """Bundle storage on S3 with one bucket per region, as OTA_BUNDLE_STORAGE=s3 configures."""
    import uuid

    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    run = uuid.uuid4().hex[:8]
    buckets = {region: f"ota-{region.lower()}-{run}" for region in ("US", "EU", "CN")}
    storages = dict(settings.STORAGES)
    for region, bucket in buckets.items():
        client.create_bucket(Bucket=bucket)
        storages[f"bundles-{region}"] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": moto_endpoint,
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "querystring_expire": 300,
                "file_overwrite": True,
                "default_acl": None,
            },
        }
    storages["bundles"] = storages["bundles-US"]
    settings.STORAGES = storages
    settings.OTA_S3_HOME_REGION = "US"
    return buckets, client


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


ALL_AT_ONCE = [{"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}]


@pytest.fixture
def ship(engineer_api, approver_api, request):
    """Release bundles to a channel the way people do: an engineer proposes, an approver
    approves, the engineer starts; the promotion gate is overridden with a reason.
    `markets`: {market: assessments} a homologation engineer approves the release with,
    before the rollout starts."""

    def ship_it(
        bundles,
        channel="stable",
        *,
        version=None,
        stages=None,
        policy=None,
        cohort=None,
        markets=None,
        **release,
    ):
        created = engineer_api.post(
            "/api/v1/manage/releases",
            {
                "version": version or f"v-{os.urandom(4).hex()}",
                "notes": "test",
                "bundles": [b.pk for b in bundles],
                **release,
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        release_id = created.json()["id"]
        assert approver_api.post(f"/api/v1/manage/releases/{release_id}/approve").status_code == 200
        for market, assessments in (markets or {}).items():
            homologation = request.getfixturevalue("homologation_api")
            approved = homologation.post(
                f"/api/v1/manage/releases/{release_id}/markets/{market}/approve",
                {"assessments": assessments},
                format="json",
            )
            assert approved.status_code == 201, approved.json()
        rollout = engineer_api.post(
            "/api/v1/manage/rollouts",
            {
                "release": release_id,
                "channel": channel,
                "stages": stages or ALL_AT_ONCE,
                **({"policy": policy} if policy else {}),
                **({"cohort": cohort} if cohort else {}),
            },
            format="json",
        )
        assert rollout.status_code == 201, rollout.json()
        rollout_id = rollout.json()["id"]
        assert approver_api.post(f"/api/v1/manage/rollouts/{rollout_id}/approve").status_code == 200
        started = approver_api.post(
            f"/api/v1/manage/rollouts/{rollout_id}/start",
            {"override_reason": "test: straight to this channel"},
            format="json",
        )
        assert started.status_code == 200, started.json()
        return release_id, rollout_id

    return ship_it
