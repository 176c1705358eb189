import contextlib

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from rollouts.models import Ecu, Vehicle, VehicleToken
from rollouts.roles import APPROVER, RELEASE_ENGINEER
from tests.factories import vehicle_payload


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
    }


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


def _token_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
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
