"""A simulated fleet for rollout tests: the reference client's manifests and telemetry,
in-process. The TUF refresh is skipped for speed (it is tested on its own): the fleet reads
its offers from the Director's decision and reports as a car would."""

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rollouts.models import Assignment
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import InstalledImage


class Fleet:
    def __init__(self, cars: list[VehicleClient], *, seed: int = 1):
        self.cars = cars
        self.rng = random.Random(seed)

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
        silent after starting). Returns what happened."""
        tally = {"offered": 0, "installed": 0, "failed": 0, "silent": 0}
        for car in self.cars:
            assert car.put_manifest().status == 200
            for assignment in self.offers(car):
                tally["offered"] += 1
                correlation = str(assignment.pk)
                events = [car.event("download_started", correlation, car.primary.serial)]
                if silent(car):
                    tally["silent"] += 1
                elif fails(car):
                    events.append(
                        car.event(
                            "install_failed", correlation, car.primary.serial, error_code=error_code
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
                    events.append(car.event("install_succeeded", correlation, car.primary.serial))
                    tally["installed"] += 1
                assert car.send_events(events).status == 200
            car.put_manifest()  # reports what is now installed
        return tally

    def drive(self, *, hours: float, crashes_per_hour: Callable[[VehicleClient], float]) -> None:
        """Every car reports one window of driving from now on, crashes drawn at its rate."""
        end = datetime.now(UTC) + timedelta(hours=hours)
        for car in self.cars:
            rate = crashes_per_hour(car) * hours
            crashes = int(rate) + (1 if self.rng.random() < rate - int(rate) else 0)
            window = car.health_window(hours=hours, crashes=crashes, end=end)
            assert car.send_health([window]).status == 200

    @staticmethod
    def updated(car: VehicleClient) -> bool:
        return any(ecu.installed.release_counter for ecu in car.ecus.values())
