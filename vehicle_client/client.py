"""The reference vehicle: poll, verify (Uptane full verification), download, install, report.

    vehicle = VehicleClient(base_url, vin, token, ecus, workdir)
    vehicle.bootstrap()                 # trust root version 1 of both repositories
    result = vehicle.poll_cycle()       # manifest → metadata → verify → download → install → events

No Django import: tests, the fleet simulator and downstream test suites share this module.
"""

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, TargetFile
from tuf.ngclient import Updater

from vehicle_client import delta
from vehicle_client.delta import DeltaError
from vehicle_client.ecu import InstalledImage, SimEcu
from vehicle_client.policy import (
    DRIVER_DEFERRED,
    POLICY_VERSION,
    CarState,
    download_refused,
    install_refused,
)
from vehicle_client.transport import Answer, Transport, TransportFetcher, Urllib3Transport

DOWNLOAD_CHUNK = 1024 * 1024


class VerificationError(Exception):
    """Director and Image repository disagree, or the bytes do not match: never install."""


@dataclass(frozen=True)
class VerifiedTarget:
    ecu: SimEcu
    path: str
    image: TargetFile  # as the Image repository lists it
    release_counter: int
    correlation_id: str
    policy: dict = field(default_factory=dict)  # the install policy the Director signed
    delta: str = ""  # the Image target of a delta from the image this ECU runs, if named


@dataclass(frozen=True)
class Fetched:
    """A verified image ready to install, and how it came: as a delta, or in full (with why
    a delta named was not used)."""

    path: Path
    delta: str = ""
    delta_refused: str = ""


@dataclass(frozen=True)
class Offer:
    """A Director target as a simulated car acts on it (see `director_offers`)."""

    correlation_id: str
    image: InstalledImage
    ecus: list[SimEcu]
    policy: dict = field(default_factory=dict)


@dataclass
class PollResult:
    manifest: dict
    offered: list[VerifiedTarget] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # ECU serial: reason code
    delta_refused: dict[str, str] = field(default_factory=dict)  # ECU serial: why
    events: dict = field(default_factory=dict)


class VehicleClient:
    def __init__(
        self,
        base_url: str,
        vin: str,
        token: str,
        ecus: list[SimEcu],
        workdir: Path,
        *,
        transport: Transport | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        # What the car believes the time is: events and drives are dated by it (a test that
        # moves the server's clock gives the server's).
        self.clock = clock or (lambda: datetime.now(UTC))
        self.vin, self.token, self.ecus = vin, token, {ecu.serial: ecu for ecu in ecus}
        self.workdir = Path(workdir)
        self.transport = transport or Urllib3Transport()
        self.report_counter = 0
        self.primary = next(ecu for ecu in ecus if ecu.primary)
        self.dropped: list[dict] = []  # telemetry items the server refused as out of range
        # Installs this car has begun, by correlation id: resumed or reported, never begun again.
        self.begun: set[str] = set()
        # Parked, battery, network, the driver's "later": what install policies are judged on.
        self.state = CarState()
        # The install policy format this car obeys, told in its manifest (0: an older car).
        self.policy_version = POLICY_VERSION
        self.driver_deferrals: dict[str, int] = {}  # by correlation id

    # --- HTTP ------------------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    def _headers(self, extra: dict | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def _json(self, method: str, path: str, body: Any) -> Answer:
        return self.transport.request(
            method,
            f"{self.api}{path}",
            headers=self._headers({"Content-Type": "application/json"}),
            body=json.dumps(body).encode(),
        )

    # --- trust ------------------------------------------------------------------------------

    def bootstrap(self, *, director_root: bytes | None = None, image_root: bytes | None = None):
        """Store root version 1 of each repository as trusted (normally burnt in at the factory)."""
        for name, url, given in [
            ("director", f"{self.api}/tuf/director/{self.vin}/metadata/1.root.json", director_root),
            ("image", f"{self.api}/tuf/image/metadata/1.root.json", image_root),
        ]:
            directory = self.workdir / name / "metadata"
            directory.mkdir(parents=True, exist_ok=True)
            if not (directory / "root.json").exists():
                root = given or self._get_bytes(url)
                (directory / "root.json").write_bytes(root)
        (self.workdir / "downloads").mkdir(parents=True, exist_ok=True)

    def _get_bytes(self, url: str) -> bytes:
        answer = self.transport.request("GET", url, headers=self._headers())
        if answer.status != 200:
            raise RepositoryError(f"GET {url}: HTTP {answer.status}")
        return answer.body

    def _updater(self, name: str, metadata_url: str, targets_url: str | None) -> Updater:
        return Updater(
            metadata_dir=str(self.workdir / name / "metadata"),
            metadata_base_url=metadata_url,
            target_dir=str(self.workdir / "downloads"),
            target_base_url=targets_url,
            fetcher=TransportFetcher(self.transport, self.token),
            bootstrap=None,  # trust the root.json stored by bootstrap()
        )

    def director_offers(self, targets_version: int) -> list["Offer"]:
        """The Director's targets for this car, read as served and *not verified*: for
        simulations standing in for many cars, where TUF's cost would hide the server's (a
        real car calls `refresh_and_verify`). Targets already installed are not offers."""
        url = f"{self.api}/tuf/director/{self.vin}/metadata/{targets_version}.targets.json"
        targets = json.loads(self._get_bytes(url))["signed"]["targets"]
        offers = []
        for path, info in sorted(targets.items()):
            custom = info.get("custom", {})
            serials = custom.get("ecu_serials") or [custom.get("ecu_serial")]
            image = InstalledImage(
                path, info["length"], info["hashes"]["sha256"], custom.get("release_counter", 0)
            )
            ecus = [
                self.ecus[s] for s in serials if s in self.ecus and self.ecus[s].installed != image
            ]
            if ecus:
                offers.append(
                    Offer(
                        custom.get("correlation_id", ""),
                        image,
                        ecus,
                        custom.get("install_policy") or {},
                    )
                )
        return offers

    # --- the poll cycle ----------------------------------------------------------------------

    def manifest(self) -> dict:
        """A signed vehicle version manifest with the next report counter."""
        self.report_counter += 1
        reports = {}
        for ecu in self.ecus.values():
            signed = {
                "ecu_serial": ecu.serial,
                "hardware_id": ecu.hardware_id,
                "installed_image": ecu.installed.as_report(),
                "report_counter": self.report_counter,
                "attacks_detected": "",
            }
            reports[ecu.serial] = {"signed": signed, "signatures": [ecu.sign(signed)]}
        signed = {
            "vin": self.vin,
            "primary_ecu_serial": self.primary.serial,
            "report_counter": self.report_counter,
            "ecu_version_reports": reports,
            "state": self.state.as_report(),
        }
        if self.policy_version:
            signed["install_policy_version"] = self.policy_version
        return {"signed": signed, "signatures": [self.primary.sign(signed)]}

    def put_manifest(self, manifest: dict | None = None) -> Answer:
        return self._json("PUT", f"/vehicles/{self.vin}/manifest", manifest or self.manifest())

    def refresh_and_verify(self) -> list[VerifiedTarget]:
        """Refresh both repositories with python-tuf, then check that they agree."""
        director = self._updater("director", f"{self.api}/tuf/director/{self.vin}/metadata/", None)
        director.refresh()
        image = self._updater(
            "image", f"{self.api}/tuf/image/metadata/", f"{self.api}/tuf/image/targets/"
        )
        image.refresh()
        self._image = image
        # ngclient keeps only verified metadata in its directory.
        director_targets = Metadata.from_file(
            str(self.workdir / "director" / "metadata" / "targets.json")
        ).signed
        return [
            self._verify(path, entry, image) for path, entry in director_targets.targets.items()
        ]

    def _verify(self, path: str, director: TargetFile, image_updater: Updater) -> VerifiedTarget:
        custom = director.custom
        ecu = self.ecus.get(custom.get("ecu_serial", ""))
        if ecu is None:
            raise VerificationError(f"{path}: the Director names an ECU this vehicle lacks")
        image = image_updater.get_targetinfo(path)
        if image is None:
            raise VerificationError(f"{path}: not in the Image repository")
        if director.length != image.length:
            raise VerificationError(f"{path}: length differs between Director and Image")
        for algorithm, digest in director.hashes.items():
            if image.hashes.get(algorithm) != digest:
                raise VerificationError(f"{path}: {algorithm} differs between Director and Image")
        if not (custom.get("hardware_id") == image.custom.get("hardware_id") == ecu.hardware_id):
            raise VerificationError(f"{path}: hardware id does not match ECU {ecu.serial}")
        counter = image.custom.get("release_counter")
        if custom.get("release_counter") != counter:
            raise VerificationError(f"{path}: release counter differs between Director and Image")
        if counter < ecu.installed.release_counter:
            raise VerificationError(f"{path}: release counter would go down on {ecu.serial}")
        return VerifiedTarget(
            ecu,
            path,
            image,
            counter,
            custom.get("correlation_id", ""),
            custom.get("install_policy") or {},
            (custom.get("deltas") or {}).get(ecu.serial, ""),
        )

    def fetch(self, target: VerifiedTarget) -> Fetched:
        """The target's image, verified: rebuilt from a delta when the Director names one and
        it checks out, else downloaded in full (a delta is never the only way)."""
        if target.delta:
            try:
                return Fetched(self._from_delta(target), delta=target.delta)
            except (DeltaError, VerificationError, RepositoryError, OSError) as exc:
                return Fetched(self.download(target), delta_refused=f"{target.delta}: {exc}")
        return Fetched(self.download(target))

    def _from_delta(self, target: VerifiedTarget) -> Path:
        """Download the delta as any Image target (its length and hashes from TUF-verified
        metadata), check it joins the image this ECU runs to the one offered, apply it writing
        at most the offered image's signed length, and verify the result against that image's
        signed hashes."""
        running = self._installed_file(target.ecu)
        if running is None:
            raise DeltaError("this ECU keeps no copy of the image it runs")
        info = self._image.get_targetinfo(target.delta)
        if info is None:
            raise DeltaError("not in the Image repository")
        claims = info.custom.get("delta") or {}
        produces = claims.get("to") or {}
        if (claims.get("from") or {}).get("sha256") != target.ecu.installed.sha256:
            raise DeltaError("it applies to another image than the one this ECU runs")
        if produces.get("length") != target.image.length or any(
            produces.get(algorithm) != digest for algorithm, digest in target.image.hashes.items()
        ):
            raise DeltaError("it produces another image than the one offered")
        if claims.get("format") != delta.FORMAT:
            raise DeltaError(f"format {claims.get('format')!r} is not {delta.FORMAT!r}")
        patch = self._download_verified(info)
        digest = target.image.hashes["sha256"]
        built = self.workdir / "downloads" / f"{digest}.from-delta"
        try:
            with running.open("rb") as old, patch.open("rb") as source, built.open("wb") as sink:
                delta.apply(old, source, sink, max_length=target.image.length)
            with built.open("rb") as handle:
                target.image.verify_length_and_hashes(handle)
        except Exception as exc:
            built.unlink(missing_ok=True)
            if isinstance(exc, DeltaError):
                raise
            raise VerificationError(f"the image built from the delta: {exc}") from None
        finally:
            patch.unlink(missing_ok=True)
        return built

    def _installed_file(self, ecu: SimEcu) -> Path | None:
        path = self.workdir / "installed" / f"{ecu.serial}.img"
        return path if path.exists() else None

    def download(self, target: VerifiedTarget) -> Path:
        """Fetch the bytes with HTTP Range resume, then check length and hashes against the
        Image repository's entry."""
        return self._download_verified(target.image)

    def _download_verified(self, info: TargetFile) -> Path:
        directory, _, name = info.path.rpartition("/")
        digest = info.hashes["sha256"]
        url = f"{self.api}/tuf/image/targets/{directory + '/' if directory else ''}{digest}.{name}"
        partial = self.workdir / "downloads" / f"{digest}.part"
        while True:
            have = partial.stat().st_size if partial.exists() else 0
            if have >= info.length:
                break
            headers = self._headers({"Range": f"bytes={have}-"} if have else {})
            answer = self.transport.request("GET", url, headers=headers)
            if answer.status not in (200, 206):
                raise RepositoryError(f"download {url}: HTTP {answer.status}")
            mode = "ab" if answer.status == 206 else "wb"
            with partial.open(mode) as handle:
                handle.write(answer.body)
            if not answer.body:
                break
        with partial.open("rb") as handle:
            try:
                info.verify_length_and_hashes(handle)
            except Exception as exc:
                partial.unlink()
                raise VerificationError(f"{info.path}: {exc}") from None
        return partial

    def install(self, target: VerifiedTarget) -> None:
        """Download and verify one target, then run it on its ECU (no events sent)."""
        self._activate(target, self.fetch(target).path)

    def _activate(self, target: VerifiedTarget, path: Path) -> None:
        # The ECU keeps a copy of what it runs: the next update may come as a delta from it.
        kept = self.workdir / "installed" / f"{target.ecu.serial}.img"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kept)
        with kept.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        target.ecu.installed = InstalledImage(
            target.path, target.image.length, digest, target.release_counter
        )

    def poll_cycle(self, *, outcome: str = "success", error_code: str = "") -> PollResult:
        """One full cycle. `outcome`: "success", "failure" (install fails with `error_code`),
        or "defer" (report deferral, install nothing)."""
        manifest = self.manifest()
        answer = self.put_manifest(manifest)
        if answer.status != 200:
            raise RepositoryError(f"manifest refused: HTTP {answer.status} {answer.body[:300]!r}")
        result = PollResult(manifest=answer.json())
        events: list[dict] = []
        try:
            result.offered = self.refresh_and_verify()
        except VerificationError as exc:
            events.append(
                self.event(
                    "verification_failed",
                    "",
                    "",
                    error_code="director_image_mismatch",
                    detail=str(exc),
                )
            )
            result.events = self.send_events(events).json()
            raise
        for target in result.offered:
            corr, serial = target.correlation_id, target.ecu.serial
            refused = download_refused(target.policy, self.state, target.image.length)
            if refused:
                events.append(self.event("install_deferred", corr, serial, error_code=refused))
                result.deferred[serial] = refused
                continue
            events.append(self.event("download_started", corr, serial))
            try:
                fetched = self.fetch(target)
            except VerificationError as exc:
                events.append(self.event("verification_failed", corr, serial, detail=str(exc)))
                result.failed.append(serial)
                continue
            path = fetched.path
            how = {"delta": fetched.delta} if fetched.delta else {}
            if fetched.delta_refused:
                how["detail"] = f"delta refused, full image used: {fetched.delta_refused}"[:2000]
                result.delta_refused[serial] = fetched.delta_refused
            events.append(self.event("download_completed", corr, serial, **how))
            refused = self.install_refused(target.policy, corr)
            if outcome == "defer":
                refused = DRIVER_DEFERRED
            if refused:
                events.append(self.event("install_deferred", corr, serial, error_code=refused))
                result.deferred[serial] = refused
                continue
            events.append(self.event("install_started", corr, serial))
            if outcome == "failure":
                events.append(
                    self.event("install_failed", corr, serial, error_code=error_code or "E_INSTALL")
                )
                result.failed.append(serial)
                continue
            self._activate(target, path)
            events.append(self.event("install_succeeded", corr, serial))
            result.installed.append(serial)
        if events:
            result.events = self.send_events(events).json()
        return result

    def install_refused(self, policy: dict, correlation_id: str) -> str | None:
        """Why this car may not install now under `policy` (a reason code), or None. A
        driver's "later" is counted against a recall's allowance."""
        refused = install_refused(
            policy,
            self.state,
            self.clock(),
            driver_deferrals=self.driver_deferrals.get(correlation_id, 0),
        )
        if refused == DRIVER_DEFERRED:
            self.driver_deferrals[correlation_id] = self.driver_deferrals.get(correlation_id, 0) + 1
        return refused

    # --- telemetry ------------------------------------------------------------------------------

    def event(self, kind: str, correlation_id: str, ecu_serial: str, **extra) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "correlation_id": correlation_id,
            "ecu_serial": ecu_serial,
            "type": kind,
            "at": self.clock().isoformat(),
            **extra,
        }

    def send_events(self, events: list[dict]) -> Answer:
        return self._send_batch("events", events)

    def send_health(self, windows: list[dict]) -> Answer:
        return self._send_batch("health", windows)

    def _send_batch(self, kind: str, items: list[dict]) -> Answer:
        """A batch is stored whole or not at all. Items the server names as out of range
        (`422 out_of_range`) are dropped, kept in `dropped`, and the rest is sent again."""
        key = "events" if kind == "events" else "windows"
        answer = self._json("POST", f"/vehicles/{self.vin}/{kind}", {key: items})
        if answer.status != 422:
            return answer
        error = answer.json().get("error", {})
        if error.get("code") != "out_of_range":
            return answer
        refused = {item["index"] for item in error["detail"]["items"]}
        self.dropped += [items[index] for index in sorted(refused)]
        rest = [item for index, item in enumerate(items) if index not in refused]
        if not rest:
            return answer
        return self._json("POST", f"/vehicles/{self.vin}/{kind}", {key: rest})

    def health_window(
        self,
        *,
        hours: float = 1.0,
        crashes: int = 0,
        reboots: int = 0,
        dtcs: dict | None = None,
        end: datetime | None = None,
    ) -> dict:
        end = end or self.clock()
        start = end - timedelta(hours=hours)
        return {
            "id": str(uuid.uuid4()),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "driving_seconds": int(hours * 3600),
            "ignition_cycles": 1,
            "crashes": crashes,
            "reboots": reboots,
            "dtcs": dtcs or {},
            "metrics": {},
        }

    def set_channel(self, channel: str, *, terms_version: str | None = None) -> Answer:
        body: dict[str, Any] = {"channel": channel}
        if terms_version:
            body["consent"] = {"terms_version": terms_version, "accepted": True, "by": "driver"}
        return self._json("PUT", f"/vehicles/{self.vin}/channel", body)
