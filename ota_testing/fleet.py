"""A fleet of reference vehicles against a test server, with failures on demand.

Shares are deterministic, not drawn: `fail=0.25` fails exactly every fourth install asked
about, so a test's numbers are the same on every run.
"""

from collections.abc import Callable, Iterator
from datetime import timedelta

from vehicle_client.client import PollResult, VehicleClient
from vehicle_client.simulation import Fleet


def every_share(share: float) -> Callable[[object], bool]:
    """True for `share` of the calls, spread evenly (0.25: the 4th, 8th, …)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share is between 0 and 1, not {share}")
    asked = iter(range(10**12))

    def pick(_car: object) -> bool:
        n = next(asked)
        return int((n + 1) * share) > int(n * share)

    return pick


class SimulatedFleet:
    """Vehicles provisioned on the server, each a `VehicleClient` with its own ECU keys."""

    def __init__(self, cars: list[VehicleClient], clock, *, seed: int = 1):
        self.cars = cars
        self.clock = clock
        self._sim = Fleet(cars, seed=seed, clock=clock)

    def __len__(self) -> int:
        return len(self.cars)

    def __iter__(self) -> Iterator[VehicleClient]:
        return iter(self.cars)

    def __getitem__(self, index: int) -> VehicleClient:
        return self.cars[index]

    @property
    def vins(self) -> list[str]:
        return [car.vin for car in self.cars]

    def poll(
        self, *, fail: float = 0.0, silent: float = 0.0, error_code: str = "E_FLASH"
    ) -> dict[str, int]:
        """Every car polls once; those offered an update install it, except a `fail` share
        whose installs fail with `error_code` and a `silent` share that starts and is never
        heard of again (until the server's time-out). Then every car reports what it runs.
        Answers the tally: offered, installed, failed, silent. Offers are read from the
        Director's targets without TUF verification, for speed; `poll_cycle` verifies."""
        return self._sim.poll(
            fails=every_share(fail), silent=every_share(silent), error_code=error_code
        )

    def poll_cycle(self, *, fail: float = 0.0, error_code: str = "E_FLASH") -> list[PollResult]:
        """Each car runs the full cycle a real one does: signed manifest, TUF refresh of the
        Director and Image repositories, verification, download, install (or a `fail` share
        of failures), events; then it reports what it runs."""
        fails = every_share(fail)
        results = []
        for car in self.cars:
            failing = fails(car)
            result = car.poll_cycle(
                outcome="failure" if failing else "success", error_code=error_code
            )
            results.append(result)
            car.put_manifest()
        return results

    def drive(
        self,
        *,
        hours: float,
        crashes_per_hour: float = 0.0,
        after_install: float | None = None,
        share: float = 1.0,
    ) -> None:
        """Every car drives `hours` and reports its health window; the server's clock moves
        on by as much. Cars crash at `crashes_per_hour`; with `after_install`, a `share` of
        the cars that installed an update crash at that rate instead."""
        crashing = every_share(share)
        worse = {car.vin for car in self.updated() if crashing(car)}

        def rate(car: VehicleClient) -> float:
            if after_install is not None and car.vin in worse:
                return after_install
            return crashes_per_hour

        self._sim.drive(hours=hours, crashes_per_hour=rate)

    def updated(self) -> list[VehicleClient]:
        """The cars that run an update (any ECU past its factory image)."""
        return [car for car in self.cars if Fleet.updated(car)]

    def wait(self, by: timedelta) -> None:
        """Time passes for the fleet and the server alike; nobody drives."""
        self.clock.advance(by)
