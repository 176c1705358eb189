"""Markets with storage of their own (EU and CN on Azurite, US the S3 home bucket on moto):
a release's bundles are copied into the markets it targets when it is approved, verified
there, and only then offered to those markets' cars, which download from their own market's
storage and never from another's."""

import pytest
from django_q.conf import Conf

from signing.models import Bundle, BundleCopy
from signing.services.copies import copies_request, copy_make
from tests.conftest import vehicle_api

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_a_market_is_offered_a_bundle_only_once_its_own_copy_is_verified(
    car_over_http, publish, ship, azure_markets, monkeypatch
):
    containers, _ = azure_markets
    eu, cn = car_over_http(region="EU"), car_over_http(region="CN")
    bundle, _ = publish(hardware_id="hu-gen7")
    monkeypatch.setattr(Conf, "SYNC", False)  # the copies wait on the queue
    ship([bundle], regions=["EU", "CN"])
    copies = {c.market: c for c in BundleCopy.objects.filter(bundle=bundle)}
    assert {m: c.status for m, c in copies.items()} == {"EU": "copying", "CN": "copying"}

    copy_make(copy_id=copies["EU"].pk)

    eu_cycle = eu.poll_cycle()  # full Uptane verification, download through the redirect
    assert eu_cycle.installed and eu.ecus[eu_cycle.installed[0]].installed.sha256 == bundle.sha256
    assert cn.poll_cycle().offered == []  # no copy in CN yet: no offer there
    refused = vehicle_api(cn.token).get(f"/api/v1/tuf/image/targets/{bundle.path}")
    assert refused.status_code == 404  # and never another market's storage

    copy_make(copy_id=copies["CN"].pk)  # verified: the CN cars' decision moves

    cn_cycle = cn.poll_cycle()
    assert cn_cycle.installed
    located = vehicle_api(cn.token).get(f"/api/v1/tuf/image/targets/{bundle.path}")
    assert f"/{containers['CN']}/" in located["Location"]
    assert sorted(Bundle.objects.get(pk=bundle.pk).regions) == ["CN", "EU"]


def test_a_copy_under_the_bundles_name_with_other_bytes_is_replaced_and_verified(
    publish, azure_markets
):
    containers, service = azure_markets
    bundle, data = publish(hardware_id="hu-gen7")
    service.get_blob_client(containers["EU"], bundle.blob_name).upload_blob(b"stale bytes")

    copies_request(bundle=bundle, markets=["EU"])  # committed at once: the copy runs inline

    copy = BundleCopy.objects.get(bundle=bundle, market="EU")
    assert copy.status == "verified"
    stored = service.get_blob_client(containers["EU"], bundle.blob_name).download_blob().readall()
    assert stored == data


def test_approving_a_release_copies_it_into_the_markets_it_targets_only(
    publish, ship, azure_markets
):
    bundle, _ = publish(hardware_id="hu-gen7")

    ship([bundle], regions=["EU"])

    assert list(BundleCopy.objects.values_list("market", "status")) == [("EU", "verified")]
    assert Bundle.objects.get(pk=bundle.pk).regions == ["EU"]


def test_the_admin_lists_each_markets_copy(publish, ship, azure_markets, staff):
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], regions=["EU"])

    listing = staff("rita", "release engineer").get("/admin/signing/bundlecopy/")

    assert listing.status_code == 200
    assert (
        bundle.path in listing.content.decode()
        and "Copied and verified" in listing.content.decode()
    )


def test_one_release_is_replicated_into_an_s3_market_and_an_azure_market_and_each_car_reads_its_own(
    car_over_http, publish, ship, mixed_markets
):
    buckets, container = mixed_markets
    us, eu, cn = (car_over_http(region=m) for m in ("US", "EU", "CN"))
    bundle, _ = publish(hardware_id="hu-gen7")

    ship([bundle])  # approved: copied into EU's bucket and CN's container, each verified

    copies = dict(BundleCopy.objects.filter(bundle=bundle).values_list("market", "status"))
    assert copies == {"EU": "verified", "CN": "verified"}
    for car, where in (
        (us, f"/{buckets['US']}/"),
        (eu, f"/{buckets['EU']}/"),
        (cn, f"/{container}/"),
    ):
        cycle = car.poll_cycle()  # Uptane: Director and Image verified with python-tuf
        assert cycle.installed, car.vin
        located = vehicle_api(car.token).get(f"/api/v1/tuf/image/targets/{bundle.path}")
        assert located.status_code == 302 and where in located["Location"]


def test_a_delta_follows_its_bundle_into_a_market_and_is_named_there_once_its_copy_is_verified(
    car_over_http, publish, ship, azure_markets, monkeypatch
):
    from bench.delta_images import image_pair
    from signing.models import Delta
    from signing.services.deltas import delta_build

    containers, _ = azure_markets
    old, new = image_pair(1)
    eu, early = car_over_http(region="EU"), car_over_http(region="EU")
    v1, _ = publish(old, path="hu-gen7/firmware-n.bin")
    ship([v1], regions=["EU"])  # copied into EU and installed from there in full
    for car in (eu, early):
        assert car.poll_cycle().installed
        car.put_manifest()  # the server learns what it runs
    v2, _ = publish(new, path="hu-gen7/firmware-n1.bin")
    monkeypatch.setattr(Conf, "SYNC", False)  # the delta waits on the queue
    ship([v2], regions=["EU"])
    copy_make(copy_id=BundleCopy.objects.get(bundle=v2, delta=None).pk)

    delta = Delta.objects.get()
    delta_build(delta_id=delta.pk)  # ready: a copy into EU is asked for, not yet made
    delta_copy = BundleCopy.objects.get(delta=delta)
    assert (delta_copy.market, delta_copy.status) == ("EU", "copying")
    assert Delta.objects.get().regions == []
    (full,) = early.poll_cycle().offered
    assert full.delta == ""  # no copy in EU yet: the full image, from EU's container

    copy_make(copy_id=delta_copy.pk)  # verified: EU's cars are named the delta

    cycle = eu.poll_cycle()
    (offer,) = cycle.offered
    assert offer.delta == delta.path and cycle.installed and cycle.delta_refused == {}
    assert eu.ecus[offer.ecu.serial].installed.sha256 == v2.sha256
    located = vehicle_api(eu.token).get(f"/api/v1/tuf/image/targets/{delta.path}")
    assert f"/{containers['EU']}/" in located["Location"]  # from EU's own container
