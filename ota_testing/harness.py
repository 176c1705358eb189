"""An OTA server as a test drives it: the people, the clock, and factories for what a test
needs in a line each (a fleet, a bundle, an approved release, a running rollout).

The same over a test server in its own process (`ota_server`) and over pytest-django's
`live_server` (`ota_live_server`): only how the server was started differs.
"""

import itertools
import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ota_testing.api import ManagementClient
from ota_testing.fleet import SimulatedFleet
from rollouts.vin import with_check_digit
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu

_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
PROVISION_BATCH = 500  # vehicles per bulk request (the server takes up to 1,000)


@dataclass
class Rollout:
    """A rollout on the server; `data` is its last answer (refreshed by every call)."""

    server: "OtaServer"
    data: dict

    def __repr__(self) -> str:
        return f"<Rollout {self.id} {self.status}, stage {self.stage_index + 1}>"

    @property
    def id(self) -> int:
        return self.data["id"]

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def stage_index(self) -> int:
        """0-based, as the API counts (people count stages from 1)."""
        return self.data["stage_index"]

    @property
    def halt_reason(self) -> dict | None:
        return self.data["halt_reason"]

    @property
    def halt_description(self) -> str | None:
        return self.data["halt_description"]

    def counts(self, stage: int | None = None) -> dict[str, int]:
        """The install counters of a stage (the current one unless told)."""
        return self.data["stages"][self.stage_index if stage is None else stage]["counts"]

    def refresh(self) -> "Rollout":
        self.data = self.server.author.get(f"manage/rollouts/{self.id}")
        return self

    def evaluate(self) -> dict:
        """Run the evaluator now, on the server's time; answers the stored evaluation
        (`outcome`: wait, advance, complete or halt, with its numbers and reason)."""
        evaluation = self.server.author.post(f"manage/rollouts/{self.id}/evaluate")
        self.refresh()
        return evaluation

    def act(self, action: str, *, reason: str = "", by: ManagementClient | None = None):
        """pause, resume, advance, halt, abort or revert, as the author unless `by`."""
        self.data = (by or self.server.author).post(
            f"manage/rollouts/{self.id}/{action}", {"reason": reason} if reason else {}
        )
        return self


@dataclass
class OtaServer:
    """A running OTA server: its URL, the trusted root of its Image repository, two people
    (an `author` in the release engineers and an `approver`, for the four-eyes rule), and its
    clock. `workdir` holds the simulated cars' files."""

    url: str
    author: ManagementClient
    approver: ManagementClient
    clock: Any  # now() and advance(…): ota_testing.clock.ServerClock or the in-process one
    workdir: Path
    image_root: bytes = b""
    log_path: Path | None = None  # the server's log, when it runs in a process of its own
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _rng: random.Random = field(
        default_factory=lambda: random.Random(secrets.randbits(64))  # noqa: S311  (test VINs)
    )
    _cars: list[VehicleClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.image_root:
            # Trust on first use: the test server was made a moment ago by this suite.
            self.image_root = self.author.request("GET", "tuf/image/metadata/1.root.json", raw=True)

    def __repr__(self) -> str:
        return f"<OtaServer {self.url}>"

    def _next(self) -> int:
        return next(self._numbers)

    def _vin(self) -> str:
        return with_check_digit("".join(self._rng.choice(_VIN_CHARS) for _ in range(17)))

    # --- vehicles -------------------------------------------------------------------------------

    def fleet(
        self,
        count: int,
        *,
        model: str = "TestCar",
        region: str = "EU",
        channel: str | None = "dev",
        hardware_ids: Sequence[str] = ("tcu-gen3", "hu-gen7"),
        seed: int = 1,
    ) -> SimulatedFleet:
        """Provision `count` vehicles (the first hardware id is the primary ECU; each ECU gets
        its own key) and answer them as reference clients that trust both repositories' root
        version 1. `channel=None` leaves them on the server's default channel."""
        cars: list[VehicleClient] = []
        planned = []
        for _ in range(count):
            vin = self._vin()
            ecus = [
                SimEcu(f"{hw.upper()}-{vin[-8:]}", hw, primary=(i == 0))
                for i, hw in enumerate(hardware_ids)
            ]
            body = {"vin": vin, "model": model, "region": region}
            if channel:
                body["channel"] = channel
            planned.append(({**body, "ecus": [e.provisioning() for e in ecus]}, ecus))
        for start in range(0, count, PROVISION_BATCH):
            batch = planned[start : start + PROVISION_BATCH]
            answer = self.author.post("manage/vehicles/bulk", {"vehicles": [b for b, _ in batch]})
            for provisioned, (body, ecus) in zip(answer["vehicles"], batch, strict=True):
                car = VehicleClient(
                    self.url,
                    body["vin"],
                    provisioned["token"],
                    ecus,
                    self.workdir / "cars" / body["vin"],
                    clock=self.clock.now,
                )
                car.bootstrap(image_root=self.image_root)
                cars.append(car)
        self._cars += cars
        return SimulatedFleet(cars, self.clock, seed=seed)

    def close(self) -> None:
        """Close every kept-alive connection to the server (people's and cars')."""
        for client in (self.author, self.approver):
            client.close()
        for car in self._cars:
            close = getattr(car.transport, "close", None)
            if close:
                close()
        self._cars.clear()

    # --- software -------------------------------------------------------------------------------

    def bundle(
        self,
        data: bytes,
        *,
        hardware_id: str,
        version: str | None = None,
        release_counter: int | None = None,
        path: str | None = None,
        publish: bool = True,
    ) -> dict:
        """Upload `data` as a bundle for `hardware_id` and publish it into the signed Image
        repository. Unnamed versions, counters and paths are made up, unique on this server."""
        number = self._next()
        counter = release_counter if release_counter is not None else number
        version = version or f"0.0.{counter}"
        path = path or f"{hardware_id}/{hardware_id}-{version}-{secrets.token_hex(3)}.bin"
        bundle = self.author.upload(
            "manage/bundles",
            {
                "file": (path.rsplit("/", 1)[-1], data, "application/octet-stream"),
                "path": path,
                "hardware_id": hardware_id,
                "version": version,
                "release_counter": str(counter),
            },
        )
        if publish:
            bundle = self.author.post(f"manage/bundles/{bundle['id']}/publish")
        return bundle

    def release(
        self,
        bundles: Sequence[dict | int],
        *,
        version: str | None = None,
        notes: str = "",
        approve: bool = True,
        models: Sequence[str] = (),
        regions: Sequence[str] = (),
        install_policy: dict | None = None,
    ) -> dict:
        """A release of these bundles by the author, approved by the approver unless told,
        and then for each market that asks for type approval, with every vehicle type
        assessed as unaffected (`approve_market` for a real assessment);
        `install_policy`: when and how cars may install it (docs/pouf.md)."""
        release = self.author.post(
            "manage/releases",
            {
                "version": version or f"test-{self._next()}-{secrets.token_hex(3)}",
                "notes": notes,
                "bundles": [b["id"] if isinstance(b, dict) else b for b in bundles],
                "models": list(models),
                "regions": list(regions),
                "install_policy": install_policy or {},
            },
        )
        if approve:
            release = self.approver.post(f"manage/releases/{release['id']}/approve")
            for market in self.approver.get(f"manage/releases/{release['id']}/markets"):
                if market["type_approval"] == "awaiting":
                    self.approve_market(release, market["market"])
        return release

    def approve_market(
        self, release: dict | int, market: str, assessments: Sequence[dict] | None = None
    ) -> dict:
        """The approver, also the test server's homologation engineer, approves the release
        for `market`; without `assessments`, every vehicle type there is unaffected."""
        release_id = release["id"] if isinstance(release, dict) else release
        if assessments is None:
            types = next(
                m["vehicle_types"]
                for m in self.approver.get(f"manage/releases/{release_id}/markets")
                if m["market"] == market
            )
            assessments = [
                {
                    "model": model,
                    "affects_type_approval": False,
                    "rationale": "Test release: no type-approved system changes.",
                }
                for model in types
            ]
        return self.approver.post(
            f"manage/releases/{release_id}/markets/{market}/approve",
            {"assessments": list(assessments)},
        )

    def rollout(
        self,
        release: dict | int,
        *,
        channel: str = "dev",
        stages: list[dict] | None = None,
        policy: dict | None = None,
        fleet: SimulatedFleet | None = None,
        regions: Sequence[str] = (),
        models: Sequence[str] = (),
        start: bool = True,
        override_reason: str = "",
        install_policy: dict | None = None,
    ) -> Rollout:
        """A rollout of `release` on `channel` (the channel's stage plan and the default
        policy unless given), approved by the approver and started by the author. With
        `fleet`, only those vehicles take part (a static cohort of them): tests sharing one
        server then never count each other's cars. With `override_reason` the approver starts
        it past a promotion gate."""
        body: dict[str, Any] = {
            "release": release["id"] if isinstance(release, dict) else release,
            "channel": channel,
            "regions": list(regions),
            "models": list(models),
        }
        if stages is not None:
            body["stages"] = stages
        if policy is not None:
            body["policy"] = policy
        if install_policy is not None:  # else the release's
            body["install_policy"] = install_policy
        if fleet is not None:
            body["cohort"] = self.cohort(fleet.vins)
        rollout = Rollout(self, self.author.post("manage/rollouts", body))
        rollout.data = self.approver.post(f"manage/rollouts/{rollout.id}/approve")
        if start:
            # Skipping a promotion gate is an approver's call, like approving.
            starter = self.approver if override_reason else self.author
            rollout.data = starter.post(
                f"manage/rollouts/{rollout.id}/start",
                {"override_reason": override_reason} if override_reason else {},
            )
        return rollout

    def cohort(self, vins: Sequence[str], *, name: str | None = None) -> str:
        """A static cohort of these vehicles; answers its name."""
        name = name or f"ota-test-{self._next()}-{secrets.token_hex(3)}"
        self.author.post("manage/cohorts", {"name": name, "kind": "static"})
        for start in range(0, len(vins), 5000):
            self.author.post(
                f"manage/cohorts/{name}/members", {"vins": list(vins[start : start + 5000])}
            )
        return name
