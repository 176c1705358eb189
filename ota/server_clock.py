"""A clock that tests may move forward: only in a test server (`OTA_TEST_CLOCK`, which
`check --deploy` refuses), so a test can pass a stage's soak time in a second.

With the setting on, `django.utils.timezone.now` reads the wall clock plus an offset that
only grows; `POST /api/v1/testing/clock` moves it. Every server-side reading of the time goes
through `timezone.now` (model defaults, services, the evaluator), so all of them move together.
The offset lives in this process: the test server serves in one process with its tasks inline.
"""

import logging
import threading
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.serializers import RejectUnknownFieldsMixin

logger = logging.getLogger(__name__)

MAX_STEP = timedelta(days=366)

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def install():
    """From now on, this process's `timezone.now` is the movable clock; answers what it
    replaced, for `uninstall`."""
    replaced = timezone.now
    timezone.now = now
    return replaced


def uninstall(replaced) -> None:
    """Back to the clock `install` replaced, not moved (an in-process test's end)."""
    global _offset
    timezone.now = replaced
    with _lock:
        _offset = timedelta(0)


def offset() -> timedelta:
    return _offset


def advance(by: timedelta) -> datetime:
    """Move the clock forward (never back: the server's records assume time does not run
    backwards) and answer the new time."""
    global _offset
    if not timedelta(0) <= by <= MAX_STEP:
        raise ValueError(f"the clock moves forward by at most {MAX_STEP.days} days at a time")
    with _lock:
        _offset += by
    return now()


class AdvanceSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    seconds = serializers.FloatField(min_value=0, max_value=MAX_STEP.total_seconds())


ClockSerializer = inline_serializer(
    "TestClock",
    {
        "now": serializers.DateTimeField(help_text="the server's time"),
        "offset_seconds": serializers.FloatField(help_text="how far ahead of the wall clock"),
    },
)


def _clock() -> dict:
    return {"now": now().isoformat(), "offset_seconds": _offset.total_seconds()}


class TestClockApi(APIView):
    """The test server's clock (present only with OTA_TEST_CLOCK on)."""

    required_permissions = ()  # any signed-in user of a test server

    @extend_schema(operation_id="testing_clock_get", responses=ClockSerializer)
    def get(self, request: Request) -> Response:
        return Response(_clock())

    @extend_schema(
        operation_id="testing_clock_advance", request=AdvanceSerializer, responses=ClockSerializer
    )
    def post(self, request: Request) -> Response:
        data = AdvanceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = advance(timedelta(seconds=data.validated_data["seconds"]))
        logger.warning("test clock moved by %s to %s", request.user, now.isoformat())
        return Response(_clock())
