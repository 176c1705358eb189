"""Every record with a status has one lifecycle table naming each of its states (ota/lifecycle.py):
a new state cannot be added without saying which actions lead to it and from where."""

import pytest

from compliance.models import EXPORT_LIFECYCLE, EvidenceExport
from rollouts.models import Release, Rollout
from rollouts.models.releases import RELEASE_LIFECYCLE
from rollouts.models.rollouts import ROLLOUT_LIFECYCLE
from signing.models import (
    BUNDLE_LIFECYCLE,
    COPY_LIFECYCLE,
    DELTA_LIFECYCLE,
    Bundle,
    BundleCopy,
    Delta,
)


@pytest.mark.parametrize(
    ("model", "lifecycle"),
    [
        (Rollout, ROLLOUT_LIFECYCLE),
        (Release, RELEASE_LIFECYCLE),
        (Bundle, BUNDLE_LIFECYCLE),
        (Delta, DELTA_LIFECYCLE),
        (BundleCopy, COPY_LIFECYCLE),
        (EvidenceExport, EXPORT_LIFECYCLE),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_each_status_a_model_can_hold_is_a_state_of_its_lifecycle(model, lifecycle):
    choices = {value for value, _ in model._meta.get_field("status").choices}
    assert set(lifecycle.transitions) == choices
