"""The server's clock as a test moves it. It only moves forward, and the simulated fleet
reads it too, so a car reports a drive after it has ended, on the server's time."""

from datetime import UTC, datetime, timedelta

from ota_testing.api import ManagementClient


def clock_step(
    by: timedelta | None = None,
    *,
    days: float = 0,
    hours: float = 0,
    minutes: float = 0,
    seconds: float = 0,
) -> timedelta:
    """How far `advance(…)` moves a clock; never back."""
    step = (by or timedelta(0)) + timedelta(
        days=days, hours=hours, minutes=minutes, seconds=seconds
    )
    if step < timedelta(0):
        raise ValueError("the server's clock only moves forward")
    return step


class ServerClock:
    """The clock of a test server started with OTA_TEST_CLOCK (moved over HTTP)."""

    def __init__(self, client: ManagementClient):
        self._client = client
        self._offset = timedelta(seconds=client.get("testing/clock")["offset_seconds"])

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(
        self,
        by: timedelta | None = None,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move the server's time forward (soak times, time-outs); answers the new time."""
        step = clock_step(by, days=days, hours=hours, minutes=minutes, seconds=seconds)
        answer = self._client.post("testing/clock", {"seconds": step.total_seconds()})
        self._offset = timedelta(seconds=answer["offset_seconds"])
        return self.now()
