"""Small builders for test data: keys, VINs and provisioning payloads."""

import itertools
import random
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from rollouts.vin import with_check_digit

_VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_serials = itertools.count(1)


def make_vin(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    body = "".join(rng.choice(_VIN_ALPHABET) for _ in range(17))
    return with_check_digit(body)


@dataclass
class EcuKey:
    private: ed25519.Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "EcuKey":
        return cls(ed25519.Ed25519PrivateKey.generate())

    @property
    def tuf_public(self) -> dict:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}


def p256_public_key() -> dict:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}}


def ecu_payload(*, primary: bool = False, hardware_id: str = "hu-gen7", serial: str | None = None):
    return {
        "serial": serial or f"ECU{next(_serials):06d}",
        "hardware_id": hardware_id,
        "primary": primary,
        "public_key": EcuKey.generate().tuf_public,
    }


def vehicle_payload(*, vin: str | None = None, **overrides) -> dict:
    payload = {
        "vin": vin or make_vin(),
        "model": "Aurora",
        "region": "EU",
        "ecus": [ecu_payload(primary=True), ecu_payload(hardware_id="bms-v2")],
    }
    payload.update(overrides)
    return payload
