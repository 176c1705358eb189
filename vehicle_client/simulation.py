"""A simulated fleet: many reference vehicles polling, installing, failing and driving.

No Django import: the tests, the demo, the benchmarks and downstream suites drive it, over
HTTP or in-process (a transport that serves the vehicle API inside the test's own process).
Cars learn their offers through the protocol, from the Director targets served to them, but
skip TUF's verification for speed (`VehicleClient.director_offers`; the full poll cycle, with
verification, is tested on its own).
"""

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta

from vehicle_client.client import VehicleClient
from vehicle_client.policy import download_refused


def _utc_now() -> datetime:
    return datetime.now(UTC)


def draw(rng: random.Random, expected: float) -> int:
    """A whole count whose mean is `expected`: its whole part, plus one with the chance of its
    fraction."""
    return int(expected) + (1 if rng.random() < expected - int(expected) else 0)


class SimClock:
    """The simulated fleet's time: the clock beneath it, plus how far the cars have driven
    ahead, so hours of driving take no time. An in-process server follows it while the cars
    send (the transport's `following`): a car then reports a window after it has ended and an
    event after it happened, as a real one does."""

    def __init__(self, beneath: Callable[[], datetime] = _utc_now) -> None:
        self.beneath = beneath
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return self.beneath() + self.ahead

    def advance(self, by: timedelta) -> None:
        self.ahead += by


class Fleet:
    def __init__(self, cars: list[VehicleClient], *, seed: int = 1, clock: SimClock | None = None):
        self.cars = cars
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not secrets
        self.clock = clock or SimClock()
        self.driven_until: dict[str, datetime] = {}  # a car's windows never overlap

    @contextmanager
    def sending(self) -> Iterator[None]:
        """While the cars send: the server follows the fleet's clock if it can."""
        transport = self.cars[0].transport if self.cars else None
        following = getattr(transport, "following", None)
        with following(self.clock) if following else nullcontext():
            yield

    def poll(
        self,
        *,
        fails: Callable[[VehicleClient], bool] = lambda car: False,
        silent: Callable[[VehicleClient], bool] = lambda car: False,
        error_code: str = "E_FLASH",
    ) -> dict[str, int]:
        """Every car sends its manifest; cars with an offer install it (or fail, or fall
        silent after starting), then report what is installed. Returns what happened."""
        tally = {"offered": 0, "installed": 0, "failed": 0, "silent": 0, "deferred": 0}
        with self.sending():
            for car in self.cars:
                self.poll_car(car, fails=fails, silent=silent, error_code=error_code, tally=tally)
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
        """One poll of one car: its manifest, then, for each new offer, the install (or its
        failure, or silence after starting) reported by events; `fails` and `silent` are asked
        only of a car with an offer. What it installed reaches the server with its next
        manifest."""
        tally = (
            tally
            if tally is not None
            else {"offered": 0, "installed": 0, "failed": 0, "silent": 0, "deferred": 0}
        )
        with self.sending():
            self._poll_car(car, fails, silent, error_code, tally)

    def _poll_car(self, car, fails, silent, error_code: str, tally: dict[str, int]) -> None:
        at = self.clock.now().isoformat()
        answer = car.put_manifest()
        assert answer.status == 200, answer.body
        offers: dict[str, list] = {}
        for offer in car.director_offers(answer.json()["director_targets_version"]):
            if offer.correlation_id not in car.begun:
                offers.setdefault(offer.correlation_id, []).append(offer)
        for correlation, targets in offers.items():  # one assignment, one target per ECU
            refused = download_refused(
                targets[0].policy, car.state, sum(o.image.length for o in targets)
            ) or car.install_refused(targets[0].policy, correlation)
            if refused:  # it waits, and asks again at its next poll
                event = car.event(
                    "install_deferred", correlation, car.primary.serial, error_code=refused, at=at
                )
                assert car.send_events([event]).status == 200
                tally["deferred"] = tally.get("deferred", 0) + 1
                continue
            car.begun.add(correlation)
            tally["offered"] += 1
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
                for offer in targets:
                    for ecu in offer.ecus:
                        ecu.installed = offer.image
                events.append(
                    car.event("install_succeeded", correlation, car.primary.serial, at=at)
                )
                tally["installed"] += 1
            answer = car.send_events(events)
            assert answer.status == 200, answer.body

    def drive(self, *, hours: float, crashes_per_hour: Callable[[VehicleClient], float]) -> None:
        """Every car drives for `hours` from now (or from the end of its last window, whichever
        is later), crashes drawn at its rate; the clock moves on and each car reports its
        window once it is over."""
        with self.sending():
            began = self.clock.now()
            ends = {}
            for car in self.cars:
                start = max(began, self.driven_until.get(car.vin, began))
                ends[car.vin] = self.driven_until[car.vin] = start + timedelta(hours=hours)
            self.clock.advance(max(ends.values(), default=began + timedelta(hours=hours)) - began)
            for car in self.cars:
                crashes = draw(self.rng, crashes_per_hour(car) * hours)
                window = car.health_window(hours=hours, crashes=crashes, end=ends[car.vin])
                answer = car.send_health([window])
                assert answer.status == 200, answer.body

    @staticmethod
    def updated(car: VehicleClient) -> bool:
        return any(ecu.installed.release_counter for ecu in car.ecus.values())
