"""No answer of the management API or the admin holds a storage credential or a path of the
server: markets are described by their account, bucket or container and endpoint host."""

from urllib.parse import quote, unquote

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

# Made up for these tests: distinctive, so that any copy of them in an answer is found.
S3_ACCESS_KEY_ID = "AKIAWALKTESTKEY00001"
S3_SECRET = "wALk/Secret+S3key0000000000000000000000x"
AZURE_KEY = "c2VjcmV0LWFjY291bnQta2V5LW9mLXRoZS1ldS1tYXJrZXQtZm9yLXRlc3Rz"
SAS_SIG = "Zm9yZ2VkK3NpZy9vZi90aGUvY24vbWFya2V0PQ%3D%3D"
SAS = f"sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&spr=https&sig={SAS_SIG}"


def _s3(bucket: str, **options) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "region_name": "eu-central-1",
            "access_key": S3_ACCESS_KEY_ID,
            "secret_key": S3_SECRET,
            **options,
        },
    }


def _azure(connection_string: str, container: str = "bundles") -> dict:
    return {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {"connection_string": connection_string, "azure_container": container},
    }


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret and secret in text]


def server_paths() -> list[str]:
    """Folders of this server: the var dir, the code's, and each local storage's."""
    folders = {str(settings.VAR_DIR), str(settings.BASE_DIR)}
    for config in settings.STORAGES.values():
        location = config.get("OPTIONS", {}).get("location")
        if location:
            folders.add(str(location))
    return sorted(folders)


@pytest.fixture
def unreachable_markets(settings):
    """US on an S3 bucket with its own key, EU on Azure with an account key, CN on Azure with
    a SharedAccessSignature (read-write), as OTA_AZURE_<MARKET>_CONNECTION_STRING configures.
    Nothing listens there: a description must come from the configuration alone."""
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles-US": _s3("ota-us"),
        "bundles-EU": _azure(
            "DefaultEndpointsProtocol=https;AccountName=otaeu;"
            f"AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net"
        ),
        "bundles-CN": _azure(
            f"BlobEndpoint=https://otacn.blob.core.chinacloudapi.cn/;SharedAccessSignature={SAS}"
        ),
    }
    return [S3_ACCESS_KEY_ID, S3_SECRET, AZURE_KEY, SAS, SAS_SIG, unquote(SAS_SIG)]


def test_the_markets_are_described_by_account_container_and_host_never_a_credential(
    unreachable_markets, engineer_api, staff
):
    markets = {m["market"]: m["storage"] for m in engineer_api.get("/api/v1/manage/markets").json()}

    assert markets["CN"] == {
        "kind": "azure",
        "account": "otacn",
        "location": "bundles",
        "endpoint": "https://otacn.blob.core.chinacloudapi.cn",
        "own": True,
    }
    assert markets["EU"]["endpoint"] == "https://otaeu.blob.core.windows.net"
    assert (markets["US"]["location"], markets["US"]["endpoint"]) == ("ota-us", "eu-central-1")
    for answer in (
        engineer_api.get("/api/v1/manage/markets"),
        staff("hana", "homologation").get("/admin/markets/"),
    ):
        assert answer.status_code == 200
        text = answer.content.decode()
        assert secrets_in(text, unreachable_markets) == []
        assert "sig=" not in text and "AccountKey" not in text


def test_local_storage_is_described_without_a_path_of_the_server(engineer_api, staff):
    markets = engineer_api.get("/api/v1/manage/markets").json()

    assert {m["storage"]["location"] for m in markets} == {"files on this server"}
    page = staff("rita", "release engineer").get("/admin/markets/")
    for answer in (engineer_api.get("/api/v1/manage/markets"), page):
        assert answer.status_code == 200
        text = answer.content.decode()
        assert [path for path in server_paths() if path in text] == []
        assert [path for path in server_paths() if quote(path) in text] == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://otacn.blob.core.chinacloudapi.cn/?sv=2022&sig=abc",
            "https://otacn.blob.core.chinacloudapi.cn",
        ),
        ("http://127.0.0.1:10000/devstoreaccount1/", "http://127.0.0.1:10000"),
        ("https://user:password@minio.example:9000/bucket?x=1#y", "https://minio.example:9000"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
        ("not a url", ""),
    ],
)
def test_an_endpoint_is_shown_as_its_scheme_host_and_port_only(url, shown):
    from signing.storage import endpoint_origin

    assert endpoint_origin(url) == shown
