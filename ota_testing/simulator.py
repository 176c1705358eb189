"""The fleet simulator behind `manage.py simulate_fleet`: N reference vehicles against any
server, in real time, for a while. Free of Django, like the rest of the harness.

Each round every car polls (installs what it is offered, or fails: a `fail` share, spread
evenly), then reports the health window it has driven since its last report (crashes drawn at
`crashes_per_hour`, or at `crashes_after_install` once it runs an update). Halts are watched
through the management API: a rollout that halts during the run is reported with its reason.
"""

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ota_testing.api import ManagementClient
from ota_testing.fleet import SimulatedFleet
from ota_testing.harness import OtaServer
from vehicle_client.simulation import draw


class WallClock:
    """Real time: what a server that is not a test server runs on. It cannot be moved."""

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def advance(self, *args, **kwargs):
        raise RuntimeError("a real server's clock does not move: the simulator runs in real time")


@dataclass
class Summary:
    vehicles: int = 0
    rounds: int = 0
    polls: int = 0
    offered: int = 0
    installed: int = 0
    failed: int = 0
    health_windows: int = 0
    crashes: int = 0
    halts_seen: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        lines = [
            f"{self.vehicles} vehicles, {self.rounds} rounds in {self.seconds:.0f} s: "
            f"{self.polls} polls, {self.offered} offers, {self.installed} installs, "
            f"{self.failed} failed installs, {self.health_windows} health windows "
            f"({self.crashes} crashes)",
        ]
        if self.halts_seen:
            lines.append(f"Halts seen ({len(self.halts_seen)}):")
            lines += [f"  {halt}" for halt in self.halts_seen]
        else:
            lines.append("Halts seen: none")
        return lines


def _rollout_states(client: ManagementClient) -> dict[int, dict]:
    return {rollout["id"]: rollout for rollout in client.get("manage/rollouts")}


def simulate(
    url: str,
    token: str,
    *,
    vehicles: int,
    duration: timedelta,
    poll_every: timedelta = timedelta(seconds=10),
    model: str = "Aurora",
    region: str = "EU",
    channel: str | None = None,
    hardware_ids: tuple[str, ...] = ("tcu-gen3", "hu-gen7"),
    fail: float = 0.0,
    crashes_per_hour: float = 0.0,
    crashes_after_install: float | None = None,
    seed: int = 1,
    workdir: Path | None = None,
    progress: Callable[[float, Summary], None] = lambda done, summary: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Provision `vehicles` cars with the token's user (who must be allowed to add vehicles),
    then run rounds until `duration` is over; answers what happened."""
    client = ManagementClient(url, token)
    folder = workdir or Path(tempfile.mkdtemp(prefix="ota-simulated-fleet-"))
    clock = WallClock()
    server = OtaServer(url=url, author=client, approver=client, clock=clock, workdir=folder)
    fleet: SimulatedFleet = server.fleet(
        vehicles,
        model=model,
        region=region,
        channel=channel,
        hardware_ids=hardware_ids,
        seed=seed,
    )
    rng = random.Random(seed)  # noqa: S311  (simulation, not secrets)
    before = _rollout_states(client)
    summary = Summary(vehicles=len(fleet))
    started = time.monotonic()
    reported_until = {car.vin: clock.now() for car in fleet}
    try:
        while True:
            tally = fleet.poll(fail=fail)
            summary.rounds += 1
            summary.polls += len(fleet)
            summary.offered += tally["offered"]
            summary.installed += tally["installed"]
            summary.failed += tally["failed"]
            updated = {car.vin for car in fleet.updated()}
            now = clock.now()
            for car in fleet:
                # Whole seconds from where the last window ended: windows never overlap.
                seconds = int((now - reported_until[car.vin]).total_seconds())
                if seconds < 1:
                    continue
                end, hours = reported_until[car.vin] + timedelta(seconds=seconds), seconds / 3600
                rate = crashes_per_hour
                if crashes_after_install is not None and car.vin in updated:
                    rate = crashes_after_install
                crashes = draw(rng, rate * hours)
                answer = car.send_health([car.health_window(hours=hours, crashes=crashes, end=end)])
                if answer.status == 200:
                    summary.health_windows += 1
                    summary.crashes += crashes
                    reported_until[car.vin] = end
            after = _rollout_states(client)
            for rollout_id, rollout in after.items():
                was = before.get(rollout_id, {}).get("status")
                if rollout["status"] == "halted" and was != "halted":
                    summary.halts_seen.append(
                        f"{rollout['release_version']} on {rollout['channel']}: "
                        f"{rollout['halt_description'] or 'halted'}"
                    )
            before = after
            summary.seconds = time.monotonic() - started
            progress(min(1.0, summary.seconds / duration.total_seconds()), summary)
            if summary.seconds >= duration.total_seconds():
                return summary
            sleep(min(poll_every.total_seconds(), duration.total_seconds() - summary.seconds))
    finally:
        server.close()
