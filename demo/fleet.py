"""The demo fleet that `make run` seeds: deterministic, so every run builds the same cars.

ECU keys are derived from the VIN and serial, which makes them public knowledge: demo only.
"""

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings

from rollouts.services.vehicles import EcuSpec, VehicleSpec
from rollouts.vin import with_check_digit
from signing.public_keys import parse_public_key

# Fictional makers' identifiers (WMI) per market, and the models sold there.
MARKETS = {
    "US": ("5NX", ["Aurora", "Borealis", "Cirrus"]),
    "EU": ("WNX", ["Aurora", "Cirrus", "Dune"]),
    "CN": ("LNX", ["Aurora", "Ember"]),
}
# (channel, share of the fleet)
CHANNEL_MIX = [("stable", 0.80), ("beta", 0.12), ("forever-beta", 0.05), ("dev", 0.03)]
# Every car has a telematics unit (the Uptane primary), a head unit and a battery manager;
# the bigger models also carry a driver-assistance computer.
ECUS = [("tcu", "tcu-gen3", True), ("hu", "hu-gen7", False), ("bms", "bms-v2", False)]
ADAS_MODELS = {"Borealis", "Ember"}
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class DemoEcu:
    serial: str
    hardware_id: str
    primary: bool

    def private_key(self, vin: str) -> ed25519.Ed25519PrivateKey:
        seed = hashlib.sha256(f"ota-demo:{vin}:{self.serial}".encode()).digest()
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)

    def public_key(self, vin: str) -> dict:
        raw = (
            self.private_key(vin)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}


@dataclass(frozen=True)
class DemoVehicle:
    vin: str
    model: str
    region: str
    channel: str
    ecus: list[DemoEcu]

    def spec(self) -> VehicleSpec:
        return VehicleSpec(
            vin=self.vin,
            model=self.model,
            region=self.region,
            channel=self.channel,
            ecus=[
                EcuSpec(
                    serial=ecu.serial,
                    hardware_id=ecu.hardware_id,
                    primary=ecu.primary,
                    public_key=parse_public_key(ecu.public_key(self.vin)),
                )
                for ecu in self.ecus
            ],
        )


# Staged rollouts the demo drives with its own cars, through the real vehicle endpoints:
# (release, bundle, channel, stage plan, policy, share of installs that fail)
DEMO_STAGED = [
    (
        "2026.13-battery",
        "bms-v2/bms-2.1.0.bin",
        "beta",
        [
            {"percent": 30, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 1440},
            {"percent": 60, "min_soak_minutes": 240, "gate": "auto", "max_duration_minutes": 2880},
            {
                "percent": 100,
                "min_soak_minutes": 720,
                "gate": "manual",
                "max_duration_minutes": 4320,
            },
        ],
        {"max_failure_rate": 0.15, "min_finished": 20, "min_exposure_hours": 20},
        0,
    ),
    (
        "2026.13-telematics",
        "tcu-gen3/tcu-3.5.0.bin",
        "dev",
        [
            {"percent": 50, "min_soak_minutes": 60, "gate": "auto", "max_duration_minutes": 1440},
            {"percent": 100, "min_soak_minutes": 240, "gate": "auto", "max_duration_minutes": 2880},
        ],
        {"max_failure_rate": 0.02, "min_finished": 5, "on_halt": "retract"},
        3,  # every third install fails
    ),
]


# The first demo cars are staff cars (a static cohort).
DEMO_COHORT_STAFF_CARS = 40


def demo_sim_ecus(vehicle: DemoVehicle) -> list:
    """The reference client's ECUs for a demo car, with the keys it was provisioned with."""
    from vehicle_client.ecu import SimEcu

    return [
        SimEcu(ecu.serial, ecu.hardware_id, ecu.primary, private_key=ecu.private_key(vehicle.vin))
        for ecu in vehicle.ecus
    ]


def demo_fleet(count: int, *, seed: int = 7) -> Iterator[DemoVehicle]:
    rng = random.Random(seed)  # noqa: S311  (reproducible demo data, not secrets)
    regions = list(MARKETS)
    channels, weights = zip(*CHANNEL_MIX, strict=True)
    for number in range(count):
        region = regions[number % len(regions)]
        wmi, models = MARKETS[region]
        model = rng.choice(models)
        vds = "".join(rng.choice(_VIN_CHARS) for _ in range(5))
        vin = with_check_digit(f"{wmi}{vds}0R{rng.choice('ABC')}{number:06d}")
        suffix = vin[-6:]
        ecus = [DemoEcu(f"{prefix.upper()}-{suffix}", hw, primary) for prefix, hw, primary in ECUS]
        if model in ADAS_MODELS:
            ecus.append(DemoEcu(f"ADAS-{suffix}", "adas-x1", False))
        channel = rng.choices(channels, weights)[0]
        yield DemoVehicle(vin=vin, model=model, region=region, channel=channel, ecus=ecus)


# One bundle per demo hardware id, so a newcomer's vehicle has something to verify and download,
# then newer head-unit builds that are further back in the pipeline.
DEMO_BUNDLES = [
    ("tcu-gen3", "tcu-gen3/tcu-3.4.1.bin", "3.4.1", 341),
    ("hu-gen7", "hu-gen7/hu-7.2.0.bin", "7.2.0", 720),
    ("bms-v2", "bms-v2/bms-2.0.5.bin", "2.0.5", 205),
    ("adas-x1", "adas-x1/adas-1.9.0.bin", "1.9.0", 190),
    ("hu-gen7", "hu-gen7/hu-7.3.0.bin", "7.3.0", 730),
    ("hu-gen7", "hu-gen7/hu-7.4.0.bin", "7.4.0", 740),
    ("bms-v2", "bms-v2/bms-2.1.0.bin", "2.1.0", 210),
    ("tcu-gen3", "tcu-gen3/tcu-3.5.0.bin", "3.5.0", 350),
]
# (release version, bundle paths, channels where it completed, channel where it is running)
DEMO_RELEASES = [
    ("2026.10", [b[1] for b in DEMO_BUNDLES[:4]], ["dev", "forever-beta", "beta", "stable"], None),
    ("2026.11", ["hu-gen7/hu-7.3.0.bin"], ["dev"], "forever-beta"),
    ("2026.12", ["hu-gen7/hu-7.4.0.bin"], [], "dev"),
]


def demo_bundle_bytes(path: str, size: int = 2 * 1024 * 1024) -> bytes:
    """Deterministic filler standing in for a firmware image: each hardware id's versions
    share most of their bytes, as real builds do, so the demo's deltas save most of a
    download (docs/deltas.md)."""
    image = bytearray(random.Random(path.split("/")[0]).randbytes(size))  # noqa: S311
    rng = random.Random(path)  # noqa: S311  (demo data, not secrets)
    for _ in range(8):  # this version's changes: a few rewritten regions, one inserted
        at, length = rng.randrange(size - 8192), rng.randrange(512, 8192)
        image[at : at + length] = rng.randbytes(length)
    at = rng.randrange(size)
    image[at:at] = rng.randbytes(4096)
    return bytes(image)


# --- what `make run` printed, kept in var/ for `demo_poll` ---------------------------------------


def demo_car_dir(vin: str) -> Path:
    return Path(settings.VAR_DIR) / "demo-cars" / vin


def demo_token_save(vin: str, token: str) -> None:
    """The vehicle token `make run` printed: `demo_poll` polls with it rather than minting a
    new one, so the printed `curl` line keeps working."""
    path = demo_car_dir(vin) / "token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    path.chmod(0o600)


def demo_token_load(vin: str) -> str | None:
    path = demo_car_dir(vin) / "token"
    return path.read_text().strip() if path.exists() else None


def demo_url_save(url: str) -> None:
    """Where `make run` serves (PORT=…): `demo_poll` goes there unless told otherwise."""
    path = Path(settings.VAR_DIR) / "demo-url.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(url + "\n")


def demo_url_load(default: str = "http://127.0.0.1:8000") -> str:
    path = Path(settings.VAR_DIR) / "demo-url.txt"
    return path.read_text().strip() if path.exists() else default
