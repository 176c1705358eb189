"""No answer of the management API or the admin holds a storage credential or a path of the
server: markets are described by their account, bucket or container and endpoint host."""

import re
from urllib.parse import quote, unquote

import pytest
from django.conf import settings
from django.utils import timezone

from tests.conftest import ALL_AT_ONCE
from tests.vehicle_client.conftest import car_over_http  # noqa: F401  (a fixture)

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
        "OPTIONS": {
            "connection_string": connection_string,
            "azure_container": container,
            "expiration_secs": 300,  # as ota/settings.py: downloads are SAS URLs
            "overwrite_files": True,
        },
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


# --- the walk: every management GET and every admin page, with markets that hold secrets ------


@pytest.fixture
def secret_markets(settings, azurite, moto_endpoint, aws_credentials):
    """Reachable markets configured with credentials: US the home bucket on S3 (moto) with an
    access key of its own, EU an Azure container by an account key connection string, CN
    one by a SharedAccessSignature connection string (read-write: what a copy needs), both on
    Azurite. The secrets an answer must never hold, in every form a page could print them."""
    import uuid
    from datetime import timedelta

    import boto3
    from azure.storage.blob import (
        AccountSasPermissions,
        BlobServiceClient,
        ResourceTypes,
        generate_account_sas,
    )

    from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY

    run = uuid.uuid4().hex[:8]
    bucket = f"ota-us-{run}"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    ).create_bucket(Bucket=bucket)
    service = BlobServiceClient.from_connection_string(azurite)
    containers = {market: f"ota-{market.lower()}-{run}" for market in ("EU", "CN")}
    for container in containers.values():
        service.create_container(container)
    sas = generate_account_sas(
        AZURITE_ACCOUNT,
        AZURITE_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True
        ),
        expiry=timezone.now() + timedelta(hours=2),
    )
    blob_endpoint = service.primary_endpoint.rstrip("/")
    us = _s3(
        bucket,
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        addressing_style="path",
        signature_version="s3v4",
        querystring_expire=300,
        file_overwrite=True,
        default_acl=None,
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles": us,
        "bundles-US": us,
        "bundles-EU": _azure(azurite, containers["EU"]),
        "bundles-CN": _azure(
            f"BlobEndpoint={blob_endpoint};SharedAccessSignature={sas}", containers["CN"]
        ),
    }
    settings.OTA_S3_HOME_REGION = "US"
    sig = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    return [S3_ACCESS_KEY_ID, S3_SECRET, AZURITE_KEY, sas, sig]


@pytest.fixture
def cars(car_over_http):  # noqa: F811 (imported above)
    """Reference cars over HTTP: they download through the redirect into their market."""
    return car_over_http


def forms_of(secret: str) -> set[str]:
    """A secret as a page may print it: as is, URL-encoded or decoded, HTML-escaped."""
    import html

    forms = {secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")}
    return forms | {html.escape(form) for form in forms}


@pytest.fixture
def history(
    secret_markets,
    settings,
    publish,
    cars,
    engineer_api,
    approver_api,
    homologation_api,
    aurora_rxswins,
    django_capture_on_commit_callbacks,
):
    """A little of everything the pages show: releases copied into every market and approved
    there with an assessment, installs with evidence and an RXSWIN moved, a delta, an
    evaluation, a halt, health, a cohort, a channel move, a dropped report, a webhook and its
    delivery, an evidence export, queued and finished tasks. Its own secrets join the list."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    from bench.delta_images import image_pair
    from rollouts.services.notifications import webhook_create
    from rollouts.tasks import send_rollout_notifications
    from vehicle_client.ecu import SimEcu

    settings.OTA_TYPE_APPROVAL_MARKETS = ["US", "EU", "CN"]
    aurora_rxswins("US", "EU", "CN")

    def shipped(bundle, affected: str) -> int:
        """Released to every market (copied into EU's and CN's own), approved in each with
        its assessment (type approval affected in one), rolled out to all at once."""
        with django_capture_on_commit_callbacks(execute=True):
            release = engineer_api.post(
                "/api/v1/manage/releases",
                {"version": f"v{bundle.pk}", "bundles": [bundle.pk], "regions": ["US", "EU", "CN"]},
                format="json",
            ).json()
            approver_api.post(f"/api/v1/manage/releases/{release['id']}/approve")
        for market in ("US", "EU", "CN"):
            assessment = {"model": "Aurora", "rationale": f"Assessed for {market}."}
            if market == affected:
                assessment |= {"affects_type_approval": True, "new_rxswin": f"R156-{bundle.pk}"}
            else:
                assessment |= {"affects_type_approval": False}
            answer = homologation_api.post(
                f"/api/v1/manage/releases/{release['id']}/markets/{market}/approve",
                {"assessments": [assessment]},
                format="json",
            )
            assert answer.status_code == 201, answer.json()
        rollout = engineer_api.post(
            "/api/v1/manage/rollouts",
            {"release": release["id"], "channel": "stable", "stages": ALL_AT_ONCE},
            format="json",
        ).json()
        approver_api.post(f"/api/v1/manage/rollouts/{rollout['id']}/approve")
        started = approver_api.post(
            f"/api/v1/manage/rollouts/{rollout['id']}/start",
            {"override_reason": "test: straight to stable"},
            format="json",
        )
        assert started.status_code == 200, started.json()
        return rollout["id"]

    us, eu = cars(region="US"), cars(region="EU")
    old, new = image_pair(1)
    v1, _ = publish(old, path="hu-gen7/firmware-n.bin")
    rollout_id = shipped(v1, affected="US")
    assert us.poll_cycle().installed and eu.poll_cycle().installed
    us.put_manifest()
    us.send_health([us.health_window(crashes=1)])
    assert engineer_api.post(f"/api/v1/manage/rollouts/{rollout_id}/evaluate").status_code == 200

    v2, _ = publish(new, path="hu-gen7/firmware-n1.bin")
    rollout_2 = shipped(v2, affected="EU")  # with a delta from v1
    assert us.poll_cycle(outcome="failure", error_code="E_FLASH").offered
    halted = approver_api.post(
        f"/api/v1/manage/rollouts/{rollout_2}/halt", {"reason": "walk"}, format="json"
    )
    assert halted.status_code == 200, halted.json()

    manifest = eu.manifest()  # a report signed by someone else's key is dropped, and kept
    secondary = next(s for s in manifest["signed"]["ecu_version_reports"] if s.startswith("HU"))
    report = manifest["signed"]["ecu_version_reports"][secondary]
    report["signatures"] = [SimEcu("X", "hu-gen7").sign(report["signed"])]
    manifest["signatures"] = [eu.primary.sign(manifest["signed"])]
    assert eu.put_manifest(manifest).status == 200

    assert (
        engineer_api.post(
            "/api/v1/manage/cohorts", {"name": "staff", "kind": "static"}, format="json"
        ).status_code
        == 201
    )
    assert (
        engineer_api.post(
            "/api/v1/manage/cohorts/staff/members", {"vins": [us.vin]}, format="json"
        ).status_code
        == 200
    )
    moved = engineer_api.put(
        f"/api/v1/manage/vehicles/{eu.vin}/channel", {"channel": "beta"}, format="json"
    )
    assert moved.status_code == 200, moved.json()

    _, webhook_secret = webhook_create(name="ops", url="http://127.0.0.1:9/hook")
    send_rollout_notifications(rollout_id, "completed", {})

    with django_capture_on_commit_callbacks(execute=True):
        exported = homologation_api.post(
            "/api/v1/manage/evidence/exports", {"scope": "vin", "vin": us.vin}, format="json"
        )
    assert exported.status_code == 202, exported.json()

    Schedule.objects.get_or_create(name="walk", defaults={"func": "ota.views.healthz"})
    if not OrmQ.objects.exists():
        OrmQ.objects.create(
            key="default",
            payload=SignedPackage.dumps({"id": "walk", "name": "walk", "func": "math.floor"}),
        )
    for success in (True, False):
        if not Task.objects.filter(success=success).exists():
            Task.objects.create(
                id=f"walk{success}",
                name=f"walk-{success}",
                func="math.floor",
                started=timezone.now(),
                stopped=timezone.now(),
                success=success,
            )
    return [webhook_secret, us.token, eu.token]


def _routed(patterns, prefix: str = ""):
    """(route, pattern, enclosing resolvers' routes) of every URL pattern, depth first."""
    from django.urls import URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routed(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _as_schema_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def manage_urls(client, values: dict[str, str]) -> list[str]:
    """Every GET of the management API the schema lists (which must be every route the URL
    conf has under it), its path parameters filled from `values`."""
    from django.urls import get_resolver

    schema = client.get("/api/schema/?format=json").json()["paths"]
    documented = {path for path in schema if path.startswith("/api/v1/manage/")}
    routed = {
        _as_schema_path(route)
        for route, _ in _routed(get_resolver().url_patterns)
        if route.startswith("api/v1/manage/")
    }
    assert routed == documented  # nothing served that the schema (and so this walk) misses
    urls = []
    for path in sorted(documented):
        if "get" not in schema[path]:
            continue
        names = re.findall(r"{(\w+)}", path)
        assert set(names) <= set(values), f"the walk needs a value for {names} of {path}"
        urls.append(re.sub(r"{(\w+)}", lambda m: quote(str(values[m[1]]), safe=""), path))
    return urls


# Admin URLs that are no page to read: logging out is a POST, "view on site" leaves the admin,
# autocomplete answers only with a model and field named in its query.
NOT_PAGES = {"logout", "view_on_site", "autocomplete"}


def admin_urls(values: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every named page of the admin site (its index, each app, each registered model's
    pages for one object of it, the console's and each model admin's own), its parameters
    filled from `values` or one object of the model; and the models with no object."""
    from django.contrib import admin
    from django.urls import reverse

    models = {f"{m._meta.app_label}/{m._meta.model_name}/": m for m in admin.site._registry}
    urls, empty = [], set()
    for route, pattern in _routed(admin.site.get_urls()):
        if not pattern.name or pattern.name in NOT_PAGES:
            continue  # unnamed: `<object_id>/` only redirects to its change page
        names = list(pattern.pattern.regex.groupindex)
        if names == ["app_label"]:
            labels = sorted({m._meta.app_label for m in models.values()})
            urls += [reverse(f"admin:{pattern.name}", args=[label]) for label in labels]
            continue
        kwargs = {}
        for name in names:
            if name in ("object_id", "pk", "id"):
                model = models[next(prefix for prefix in models if route.startswith(prefix))]
                first = model._default_manager.order_by("pk").first()
                if first is None:
                    empty.add(model._meta.label)
                    break
                kwargs[name] = str(first.pk)
            else:
                assert name in values, f"the walk needs a value for {name} of admin/{route}"
                kwargs[name] = str(values[name])
        else:
            urls.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return urls, sorted(empty)


def _text(answer) -> str:
    body = b"".join(answer.streaming_content) if answer.streaming else answer.content
    headers = "\n".join(f"{name}: {value}" for name, value in answer.headers.items())
    return headers + "\n" + body.decode("utf-8", errors="replace")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_management_answer_or_admin_page_holds_a_secret_or_a_path_of_the_server(
    history, secret_markets, make_user, client, tmp_path
):
    from compliance.models import EvidenceExport
    from rollouts.models import Cohort, Release, Rollout, Vehicle
    from signing.models import Bundle
    from tests.conftest import _token_client

    root = make_user("root", is_staff=True, is_superuser=True)
    api = _token_client(root)
    client.force_login(root)
    values = {
        "vin": Vehicle.objects.order_by("pk").first().vin,
        "release_id": Release.objects.order_by("pk").first().pk,
        "rollout_id": Rollout.objects.order_by("pk").first().pk,
        "bundle_id": Bundle.objects.order_by("pk").first().pk,
        "export_id": EvidenceExport.objects.get(status="ready").pk,
        "name": Cohort.objects.get().name,
        "market": "CN",
    }
    api_token = api._credentials["HTTP_AUTHORIZATION"].split()[1]
    secrets = set().union(*(forms_of(s) for s in [*secret_markets, *history, api_token]))
    paths = {*server_paths(), str(tmp_path)}
    secrets |= {form for path in paths for form in (path, quote(path))}

    pages, empty = admin_urls(values)
    visited: dict[str, int] = {}
    found: dict[str, list[str]] = {}
    for url, answer in [
        *((url, api.get(url)) for url in manage_urls(api, values)),
        *((url, client.get(url)) for url in pages),
    ]:
        visited[url] = answer.status_code
        text = _text(answer)
        hits = sorted(secret for secret in secrets if secret in text)
        if hits:
            found[url] = hits

    assert found == {}
    assert empty == []  # a change page of one object of each registered model was read
    assert {url: code for url, code in visited.items() if code >= 500} == {}
    read = [url for url, code in visited.items() if code == 200]
    assert len(read) >= 100, visited  # so that it cannot pass by reading nothing
    for must in ("/api/v1/manage/markets", "/admin/", "/admin/markets/", "/admin/pipeline/"):
        assert must in read
