"""A stage's counters are spread over slots that readers sum: each car counts in its own
slot, at the end of its transaction, so the offers of a stage do not queue on one row
(issue 24)."""

import pytest

from rollouts.models import Rollout, RolloutCounter
from rollouts.services.counters import count, counted_at_end, totals

pytestmark = pytest.mark.django_db


@pytest.fixture
def rollout(publish, ship) -> Rollout:
    return Rollout.objects.get(pk=ship([publish()[0]], "dev")[1])


def test_a_started_rollout_has_a_row_per_stage_and_slot(rollout, settings):
    assert RolloutCounter.objects.filter(rollout=rollout).count() == settings.OTA_COUNTER_SLOTS


def test_counts_inside_counted_at_end_are_written_as_it_ends_and_not_if_it_fails(rollout):
    with counted_at_end(slot=3):
        count(rollout_id=rollout.pk, stage_index=0, offered=1)
        count(rollout_id=rollout.pk, stage_index=0, succeeded=1)
        assert totals(rollout=rollout)["offered"] == 0  # not yet
    assert (totals(rollout=rollout)["offered"], totals(rollout=rollout)["succeeded"]) == (1, 1)
    assert RolloutCounter.objects.get(rollout=rollout, stage_index=0, slot=3).offered == 1

    with pytest.raises(RuntimeError), counted_at_end(slot=3):
        count(rollout_id=rollout.pk, stage_index=0, offered=5)
        raise RuntimeError("the poll failed")
    assert totals(rollout=rollout)["offered"] == 1


def test_a_slot_beyond_the_configured_ones_still_counts(rollout, settings):
    """Fewer slots configured later: rows of the slots beyond still count in the sums."""
    count(
        rollout_id=rollout.pk, stage_index=0, slot=settings.OTA_COUNTER_SLOTS + 6, failed_install=2
    )
    assert totals(rollout=rollout)["failed"] == 2
