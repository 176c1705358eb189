"""A mass of stale installs is timed out in bounded batches, each its own transaction with its
counts and evidence, found through the index of installs under way (issue 24)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import EvidenceRecord
from rollouts.models import Assignment, Rollout, Vehicle
from rollouts.services.counters import totals
from rollouts.services.evaluation import time_out_stale

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_installs(provision, publish, ship):
    """25 cars that started to download a running rollout's release two days ago."""
    for _ in range(25):
        provision(region="EU")
    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle], "stable")
    two_days_ago = timezone.now() - timedelta(days=2)
    Assignment.objects.bulk_create(
        Assignment(rollout_id=rollout_id, vehicle=v, status="downloading", started_at=two_days_ago)
        for v in Vehicle.objects.all()
    )
    return Rollout.objects.get(pk=rollout_id)


def test_a_mass_of_stale_installs_times_out_in_batches_each_counted_with_its_evidence(
    stale_installs,
):
    with CaptureQueriesContext(connection) as queries:
        moved = time_out_stale(rollout=stale_installs, now=timezone.now(), batch=10)

    assert moved == 25
    assert set(Assignment.objects.values_list("status", flat=True)) == {"timed_out"}
    assert totals(rollout=stale_installs)["timed_out"] == 25
    assert EvidenceRecord.objects.filter(kind="timed_out").count() == 25
    batches = [q for q in queries.captured_queries if "LIMIT 10" in q["sql"]]
    assert len(batches) == 3  # 10, 10, 5: the third is short, so no fourth


def test_each_batch_costs_the_same_however_many_time_out(stale_installs):
    def queries_for(batch: int) -> int:
        Assignment.objects.update(status="downloading")
        with CaptureQueriesContext(connection) as queries:
            time_out_stale(rollout=stale_installs, now=timezone.now(), batch=batch)
        return len(queries.captured_queries)

    one_batch, five_batches = queries_for(25), queries_for(5)
    per_batch = (five_batches - one_batch) / 4
    assert one_batch <= 20 and per_batch <= one_batch


def test_installs_not_yet_stale_and_finished_ones_are_left_alone(stale_installs):
    fresh = Assignment.objects.all()[:3]
    Assignment.objects.filter(pk__in=[a.pk for a in fresh]).update(started_at=timezone.now())
    finished = Assignment.objects.exclude(pk__in=[a.pk for a in fresh])[:2]
    Assignment.objects.filter(pk__in=[a.pk for a in finished]).update(status="succeeded")

    assert time_out_stale(rollout=stale_installs, now=timezone.now(), batch=7) == 20
    assert Assignment.objects.filter(status="downloading").count() == 3


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only: runs in the PostgreSQL pass of CI"
)
def test_stale_installs_are_found_through_the_index_of_installs_under_way(stale_installs):
    cutoff = timezone.now() - timedelta(hours=1)
    stale = Assignment.objects.filter(
        rollout=stale_installs, status__in=["downloading", "installing"], started_at__lt=cutoff
    ).order_by("started_at")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        plan = stale.values_list("pk", flat=True)[:10].explain()
    assert "assignment_installs_under_way" in plan
