import pytest

from rollouts.models import Rollout
from rollouts.services import counters

THREE_STAGES = [
    {"percent": 10, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
    {"percent": 50, "min_soak_minutes": 60, "gate": "manual", "max_duration_minutes": 600},
    {"percent": 100, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 600},
]


@pytest.fixture
def running(publish, ship):
    """A running three-stage rollout on beta, with these counts in its first stage."""

    def start(version="2026.50", channel="beta", policy=None, **counts) -> Rollout:
        bundle, _ = publish()
        _, rollout_id = ship([bundle], channel, version=version, stages=THREE_STAGES, policy=policy)
        if counts:
            counters.count(rollout_id=rollout_id, stage_index=0, **counts)
        return Rollout.objects.get(pk=rollout_id)

    return start
