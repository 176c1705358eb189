"""The vehicle API served inside this process, for simulations and tests: the reference
client's transport over Django's test client, and a server clock that follows the simulation's
(vehicle_client/simulation.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.test import Client
from django.utils import timezone

from vehicle_client.simulation import SimClock
from vehicle_client.transport import Answer


class InProcessTransport:
    """The reference client's transport over Django's test client (no network, no server)."""

    def __init__(self) -> None:
        self.client = Client(HTTP_HOST="localhost")

    def request(self, method, url, *, headers, body=None) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {
            f"HTTP_{name.upper().replace('-', '_')}": value
            for name, value in headers.items()
            if name.lower() != "content-type"
        }
        response = self.client.generic(
            method,
            path,
            data=body or b"",
            content_type=headers.get("Content-Type", "application/octet-stream"),
            **extra,
        )
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return Answer(response.status_code, content, dict(response.headers))

    @contextmanager
    def following(self, clock: SimClock) -> Iterator[None]:
        """While inside, the server's `timezone.now` is the simulation's clock, set on the
        server's own clock beneath it (which a test may have moved)."""
        if getattr(timezone.now, "__self__", None) is clock:  # already following
            yield
            return
        server_now, clock_beneath = timezone.now, clock.beneath
        clock.beneath = server_now
        timezone.now = clock.now
        try:
            yield
        finally:
            timezone.now, clock.beneath = server_now, clock_beneath
