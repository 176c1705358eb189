"""A simulated ECU: its key, what it has installed, and TUF-style signatures."""

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import SSlibKey


@dataclass
class InstalledImage:
    filepath: str
    length: int
    sha256: str
    release_counter: int = 0  # what this ECU believes; 0 for a factory image

    @classmethod
    def factory(cls, hardware_id: str) -> "InstalledImage":
        data = f"factory image for {hardware_id}".encode()
        return cls(f"{hardware_id}/factory.bin", len(data), hashlib.sha256(data).hexdigest())

    def as_report(self) -> dict:
        return {
            "filepath": self.filepath,
            "fileinfo": {"length": self.length, "hashes": {"sha256": self.sha256}},
        }


@dataclass
class SimEcu:
    serial: str
    hardware_id: str
    primary: bool = False
    private_key: ed25519.Ed25519PrivateKey = field(
        default_factory=ed25519.Ed25519PrivateKey.generate
    )
    installed: InstalledImage | None = None

    def __post_init__(self):
        if self.installed is None:
            self.installed = InstalledImage.factory(self.hardware_id)

    @property
    def public_key(self) -> dict:
        """TUF key form, as provisioning takes it."""
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}

    @property
    def keyid(self) -> str:
        return SSlibKey.from_crypto(self.private_key.public_key()).keyid

    def sign(self, signed: dict) -> dict:
        """A TUF signature: hex ed25519 over the OLPC canonical JSON of `signed`."""
        payload = encode_canonical(signed).encode("utf-8")
        return {"keyid": self.keyid, "sig": self.private_key.sign(payload).hex()}

    def provisioning(self) -> dict:
        return {
            "serial": self.serial,
            "hardware_id": self.hardware_id,
            "primary": self.primary,
            "public_key": self.public_key,
        }
