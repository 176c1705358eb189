"""Evidence on the poll path: recording a first offer costs the deciding poll one statement
(an INSERT … SELECT of the car's VIN, type, market and RXSWIN), and nothing the poll holds
already is read again."""

import contextlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import EvidenceRecord
from rollouts.signals import assignments_moved

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def evidence_off():
    assert assignments_moved.disconnect(dispatch_uid="compliance.evidence")
    try:
        yield
    finally:
        apps.get_app_config("compliance").ready()  # connects it again


def offering_poll_queries(car, publish, ship, channel: str) -> int:
    """A car alone on its channel gets its first offer there."""
    vehicle = car(channel=channel)
    vehicle.put_manifest()
    bundle, _ = publish(hardware_id="hu-gen7")
    ship([bundle], channel)
    with CaptureQueriesContext(connection) as queries:
        vehicle.put_manifest()  # decides: the first offer
    return len(queries)


def test_an_offers_evidence_costs_the_deciding_poll_one_statement(car, publish, ship):
    with evidence_off():
        without = offering_poll_queries(car, publish, ship, "dev")
    assert EvidenceRecord.objects.count() == 0

    with_evidence = offering_poll_queries(car, publish, ship, "beta")

    assert EvidenceRecord.objects.filter(kind="offered").count() == 1
    assert with_evidence - without == 1
