"""Bundle bytes and metadata over HTTP: Range, cache headers, clean 404s (metadata caching:
test_conditional_metadata.py)."""

import pytest

pytestmark = pytest.mark.django_db


def target_url(bundle, hashed: bool = True) -> str:
    directory, _, name = bundle.path.rpartition("/")
    if hashed:
        return f"/api/v1/tuf/image/targets/{directory}/{bundle.sha256}.{name}"
    return f"/api/v1/tuf/image/targets/{bundle.path}"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_bundle_downloads_whole_with_its_headers(client, publish):
    bundle, data = publish()
    response = client.get(target_url(bundle))
    assert response.status_code == 200
    assert body(response) == data
    assert response["Content-Length"] == str(len(data))
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{bundle.sha256}"'
    assert "immutable" in response["Cache-Control"]


def test_the_plain_target_path_works_too(client, publish):
    bundle, data = publish()
    assert body(client.get(target_url(bundle, hashed=False))) == data


def test_a_download_resumed_with_range_yields_the_same_bytes(client, publish):
    bundle, data = publish()
    first = body(client.get(target_url(bundle), HTTP_RANGE="bytes=0-99999"))
    rest = client.get(target_url(bundle), HTTP_RANGE="bytes=100000-")
    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 100000-{len(data) - 1}/{len(data)}"
    assert first + body(rest) == data


def test_a_suffix_range_gives_the_last_bytes(client, publish):
    bundle, data = publish()
    response = client.get(target_url(bundle), HTTP_RANGE="bytes=-10")
    assert body(response) == data[-10:]


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=-0"])
def test_an_unsatisfiable_range_is_416(client, publish, header):
    bundle, data = publish()
    response = client.get(target_url(bundle), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(data)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


def test_an_if_range_for_other_bytes_gets_the_whole_bundle(client, publish):
    bundle, data = publish()
    response = client.get(target_url(bundle), HTTP_RANGE="bytes=10-", HTTP_IF_RANGE='"stale"')
    assert response.status_code == 200
    assert body(response) == data


def test_unpublished_and_unknown_bundles_are_clean_404s(client, repos, publish):
    bundle, _ = publish()
    for url in [
        "/api/v1/tuf/image/targets/hu-gen7/nothing.bin",
        f"/api/v1/tuf/image/targets/hu-gen7/{'0' * 64}.{bundle.path.rsplit('/', 1)[1]}",
    ]:
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_metadata_is_served_as_the_exact_stored_bytes(client, publish):
    from signing.models import RoleMetadata

    publish()
    for row in RoleMetadata.objects.filter(repo="image"):
        name = "timestamp.json" if row.role == "timestamp" else f"{row.version}.{row.role}.json"
        if row.role == "timestamp" and row.version != 2:
            continue
        response = client.get(f"/api/v1/tuf/image/metadata/{name}")
        assert response.status_code == 200, name
        assert response.content == bytes(row.raw)


@pytest.mark.parametrize(
    "name",
    [
        "2.root.json",
        "9.snapshot.json",
        "1.timestamp.json",
        "0.root.json",
        "root.txt",
        "..%2F1.root.json",
        "1.root.json.bak",
    ],
)
def test_missing_metadata_is_a_json_404_never_a_redirect(client, repos, name):
    response = client.get(f"/api/v1/tuf/image/metadata/{name}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_every_root_version_stays_downloadable(client, repos):
    from django.core.management import call_command

    call_command("sign_root", repo="image", stdout=None)
    call_command("sign_root", repo="image", stdout=None)
    for version in (1, 2, 3):
        assert client.get(f"/api/v1/tuf/image/metadata/{version}.root.json").status_code == 200
