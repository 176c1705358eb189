"""A simulated fleet, in-process: the reference vehicle client's manifests and telemetry sent
through Django's test client. Used by the demo and by the rollout tests.

The client's TUF refresh is skipped for speed (it is tested on its own, over HTTP): cars read
their offers from the assignments the Director made and report as a car would.
"""

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.utils import timezone

from rollouts.models import Assignment
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import InstalledImage
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


class SimClock:
    """The simulated fleet's time. It runs with the clock beneath it and jumps ahead when the
    cars drive, so hours of driving take no time. While the simulation sends, the server code
    it calls in-process reads the same clock (`django.utils.timezone.now`): a car reports a
    window after it has ended and an event after it happened, as a real one does, and the
    server's refusal of reports from the future (rollouts/telemetry_bounds.py) holds."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)
        self._beneath: Callable[[], datetime] | None = None  # while applied

    def now(self) -> datetime:
        return (self._beneath or timezone.now)() + self.ahead

    def advance(self, by: timedelta) -> None:
        self.ahead += by

    @contextmanager
    def applied(self) -> Iterator[None]:
        if self._beneath is not None:  # already
            yield
            return
        self._beneath = timezone.now
        timezone.now = self.now
        try:
            yield
        finally:
            timezone.now, self._beneath = self._beneath, None


class Fleet:
    def __init__(self, cars: list[VehicleClient], *, seed: int = 1):
        self.cars = cars
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not secrets
        self.clock = SimClock()
        self.driven_until: dict[str, datetime] = {}  # a car's windows never overlap

    def offers(self, car: VehicleClient) -> list[Assignment]:
        return list(
            Assignment.objects.filter(vehicle__vin=car.vin, status="offered")
            .select_related("rollout__release")
            .prefetch_related("rollout__release__items__bundle")
        )

    def poll(
        self,
        *,
        fails: Callable[[VehicleClient], bool] = lambda car: False,
        silent: Callable[[VehicleClient], bool] = lambda car: False,
        error_code: str = "E_FLASH",
    ) -> dict[str, int]:
        """Every car sends its manifest; cars with an offer install it (or fail, or fall
        silent after starting), then report what is installed. Returns what happened."""
        tally = {"offered": 0, "installed": 0, "failed": 0, "silent": 0}
        for car in self.cars:
            self.poll_car(car, fails=fails, silent=silent, error_code=error_code, tally=tally)
            with self.clock.applied():
                car.put_manifest()  # reports what is now installed
        return tally

    def poll_car(
        self,
        car: VehicleClient,
        *,
        fails: Callable[[VehicleClient], bool] = lambda car: False,
        silent: Callable[[VehicleClient], bool] = lambda car: False,
        error_code: str = "E_FLASH",
        tally: dict[str, int] | None = None,
    ) -> None:
        """One poll of one car: its manifest, then, for an offer, the install (or its failure,
        or silence after starting) reported by events; `fails` and `silent` are asked only of
        a car with an offer. What it installed reaches the server with its next manifest."""
        tally = (
            tally if tally is not None else {"offered": 0, "installed": 0, "failed": 0, "silent": 0}
        )
        with self.clock.applied():
            self._poll_car(car, fails, silent, error_code, tally)

    def _poll_car(self, car, fails, silent, error_code: str, tally: dict[str, int]) -> None:
        at = self.clock.now().isoformat()
        assert car.put_manifest().status == 200
        for assignment in self.offers(car):
            tally["offered"] += 1
            correlation = str(assignment.pk)
            events = [car.event("download_started", correlation, car.primary.serial, at=at)]
            if silent(car):
                tally["silent"] += 1
            elif fails(car):
                events.append(
                    car.event(
                        "install_failed",
                        correlation,
                        car.primary.serial,
                        error_code=error_code,
                        at=at,
                    )
                )
                tally["failed"] += 1
            else:
                for item in assignment.rollout.release.items.all():
                    for ecu in car.ecus.values():
                        if ecu.hardware_id == item.bundle.hardware_id:
                            ecu.installed = InstalledImage(
                                item.bundle.path,
                                item.bundle.length,
                                item.bundle.sha256,
                                item.bundle.release_counter,
                            )
                events.append(
                    car.event("install_succeeded", correlation, car.primary.serial, at=at)
                )
                tally["installed"] += 1
            assert car.send_events(events).status == 200

    def drive(self, *, hours: float, crashes_per_hour: Callable[[VehicleClient], float]) -> None:
        """Every car drives for `hours` from now (or from the end of its last window, whichever
        is later), crashes drawn at its rate; the clock moves on and each car reports its
        window once it is over."""
        began = self.clock.now()
        ends = {}
        for car in self.cars:
            start = max(began, self.driven_until.get(car.vin, began))
            ends[car.vin] = self.driven_until[car.vin] = start + timedelta(hours=hours)
        self.clock.advance(max(ends.values(), default=began + timedelta(hours=hours)) - began)
        with self.clock.applied():
            for car in self.cars:
                rate = crashes_per_hour(car) * hours
                crashes = int(rate) + (1 if self.rng.random() < rate - int(rate) else 0)
                window = car.health_window(hours=hours, crashes=crashes, end=ends[car.vin])
                answer = car.send_health([window])
                assert answer.status == 200, answer.body

    @staticmethod
    def updated(car: VehicleClient) -> bool:
        return any(ecu.installed.release_counter for ecu in car.ecus.values())
