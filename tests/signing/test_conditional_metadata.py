"""Image metadata answers conditional requests: an ETag from the bytes, 304, public caching."""

import hashlib
import json

import pytest

pytestmark = pytest.mark.django_db

FILES = ["timestamp.json", "1.root.json", "1.snapshot.json", "1.targets.json"]


def url(name: str) -> str:
    return f"/api/v1/tuf/image/metadata/{name}"


@pytest.mark.parametrize("name", FILES)
def test_a_matching_if_none_match_is_304_with_no_body_and_the_same_headers(client, repos, name):
    first = client.get(url(name))
    again = client.get(url(name), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]


@pytest.mark.parametrize("name", FILES)
def test_a_non_matching_if_none_match_gets_the_bytes(client, repos, name):
    first = client.get(url(name))
    other = client.get(url(name), HTTP_IF_NONE_MATCH='"0000", "1111"')
    assert other.status_code == 200
    assert other.content == first.content


@pytest.mark.parametrize("header", ['"0000", {etag}, "1111"', "*", "W/{etag}"])
def test_a_list_a_star_or_a_weak_copy_of_the_etag_match_too(client, repos, header):
    etag = client.get(url("timestamp.json"))["ETag"]
    answer = client.get(url("timestamp.json"), HTTP_IF_NONE_MATCH=header.format(etag=etag))
    assert answer.status_code == 304


def test_the_etag_is_the_sha256_of_the_bytes_served(client, repos):
    timestamp = client.get(url("timestamp.json"))
    assert timestamp["ETag"] == f'"{hashlib.sha256(timestamp.content).hexdigest()}"'
    listed = json.loads(timestamp.content)["signed"]["meta"]["snapshot.json"]
    snapshot = client.get(url(f"{listed['version']}.snapshot.json"))
    assert snapshot["ETag"] == f'"{listed["hashes"]["sha256"]}"'


def test_image_metadata_is_public_and_only_versions_are_immutable(client, repos):
    for name in FILES[1:]:
        assert client.get(url(name))["Cache-Control"] == ("public, max-age=31536000, immutable"), (
            name
        )
    assert client.get(url("timestamp.json"))["Cache-Control"] == "public, no-cache"
    assert client.get(url("root.json"))["Cache-Control"] == "public, no-cache"


def test_after_a_publish_the_old_timestamp_etag_gets_the_new_bytes(client, publish):
    before = client.get(url("timestamp.json"))
    publish()
    after = client.get(url("timestamp.json"), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert (
        json.loads(after.content)["signed"]["version"]
        > json.loads(before.content)["signed"]["version"]
    )


def test_an_image_timestamp_costs_one_query_answered_or_not_modified(
    client, repos, django_assert_num_queries
):
    with django_assert_num_queries(1):
        etag = client.get(url("timestamp.json"))["ETag"]
    with django_assert_num_queries(1):
        assert client.get(url("timestamp.json"), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_head_request_revalidates_like_a_get(client, repos):
    etag = client.get(url("timestamp.json"))["ETag"]
    assert client.head(url("timestamp.json"), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_an_if_match_for_other_bytes_is_a_json_412(client, repos):
    answer = client.get(url("timestamp.json"), HTTP_IF_MATCH='"0000"')
    assert answer.status_code == 412
    assert answer["Content-Type"] == "application/json"
