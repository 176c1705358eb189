"""The release export's manifest, checked without the database: what an isolated market's
deployment accepts from the main one (docs/isolated-markets.md). Every field is held to the
rule the management API holds it to: a signed export publishes nothing an engineer could not."""

import json
import re
from datetime import datetime
from typing import Any

from compliance import rxswin
from rollouts import install_policy
from signing.names import valid_hardware_id, valid_target_path

FORMAT = "ota-release-export/1"
MANIFEST = "release.json"
SIGNATURE = "release.json.sig"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_BIGINT = 2**63 - 1  # a bigint column, as ota/serializers.py bounds API input
MAX_RELEASE_COUNTER = 2**31 - 1  # Bundle.release_counter, as the bundle API bounds it
MAX_BUNDLES = 64  # in one release, as the release API allows
MAX_ASSESSMENTS = 500  # in one market approval, as its API allows
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX128 = re.compile(r"[0-9a-f]{128}")
# Django's username rule (UnicodeUsernameValidator): the approvers become records here.
USERNAME = re.compile(r"[\w.@+-]{1,150}")
# PostgreSQL stores no NUL and no lone surrogate; DRF refuses both in any string.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class PackageError(ValueError):
    """The export is not one this deployment can trust or use; says what."""


def parse_manifest(data: bytes, *, max_bundle_bytes: int = MAX_BIGINT) -> dict[str, Any]:
    """The manifest with its install policy in normal form, or PackageError naming the first
    field that breaks a rule."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise PackageError("the manifest is larger than 4 MiB")
    try:
        manifest = json.loads(data)
    except RecursionError:
        raise PackageError("the manifest is nested too deeply") from None
    except ValueError:  # UnicodeDecodeError too
        raise PackageError("the manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f"not a release export of format {FORMAT}")
    _fields(
        manifest,
        "the manifest",
        required={"format", "markets", "release", "bundles"},
        optional={"source", "exported_at", "market_approvals", "rxswins"},
    )
    _text(manifest.get("source", "main"), "the manifest's source", max_length=60)
    if "exported_at" in manifest:
        _moment(manifest["exported_at"], "the manifest's exported_at")
    markets = _list(manifest["markets"], "the manifest's markets")
    if not markets:
        raise PackageError("the manifest names no market")
    for market in markets:
        _text(market, "a market", max_length=16)
    _once(markets, "market")
    exported = set(markets)
    _release(manifest["release"])
    approved = [
        _market_approval(item, exported)
        for item in _list(manifest.get("market_approvals", []), "market_approvals")
    ]
    _once(approved, "market approval for")
    for entry in _list(manifest.get("rxswins", []), "rxswins"):
        _rxswin_entry(entry, exported)
    bundles = _list(manifest["bundles"], "the manifest's bundles")
    if not bundles or len(bundles) > MAX_BUNDLES:
        raise PackageError(f"the manifest lists no bundle, or more than {MAX_BUNDLES}")
    for index, entry in enumerate(bundles, start=1):
        _bundle(entry, f"bundle {index}", max_bundle_bytes=max_bundle_bytes)
    _once([b["path"] for b in bundles], "bundle")
    _once([b["hardware_id"] for b in bundles], "hardware id")  # one per hardware id, as the API
    _storable(manifest)
    return manifest


def _release(release: Any) -> None:
    _fields(
        release,
        "the release",
        required={"version", "author", "approved_by", "approved_at"},
        optional={"notes", "models", "regions", "install_policy"},
    )
    _text(release["version"], "the release's version", max_length=64)
    _text(release.get("notes", ""), "the release's notes", max_length=20000, blank=True)
    for model in _list(release.get("models", []), "the release's models"):
        _text(model, "a vehicle type of the release", max_length=64)
    for region in _list(release.get("regions", []), "the release's regions"):
        _text(region, "a region of the release", max_length=16)
    _person(release["author"], "the release's author")
    _person(release["approved_by"], "the release's approver")
    _moment(release["approved_at"], "the release's approved_at")
    policy = release.get("install_policy") or {}
    if not isinstance(policy, dict):
        raise PackageError("the release's install_policy is not an object")
    try:
        release["install_policy"] = install_policy.validate(policy)
    except install_policy.PolicyError as exc:
        raise PackageError(f"the release's install_policy is not valid: {exc}") from None
    except TypeError:  # validate() assumes hashable days; a list of lists is not
        raise PackageError("the release's install_policy is not valid") from None


def _market_approval(approval: Any, markets: set[str]) -> str:
    _fields(
        approval,
        "a market approval",
        required={"market", "approved_by", "approved_at"},
        optional={"note", "assessments"},
    )
    market = approval["market"]
    if not isinstance(market, str) or market not in markets:
        raise PackageError(f"a market approval is for {_shown(market)}, not a market exported")
    where = f"the approval for {market}"
    _person(approval["approved_by"], f"{where}: its approver")
    _moment(approval["approved_at"], f"{where}: its approved_at")
    _text(approval.get("note", ""), f"{where}: its note", max_length=5000, blank=True)
    items = _list(approval.get("assessments", []), f"{where}: its assessments")
    if len(items) > MAX_ASSESSMENTS:
        raise PackageError(f"{where} holds more than {MAX_ASSESSMENTS} assessments")
    assessments = []
    for item in items:
        _fields(
            item,
            f"{where}: an assessment",
            required={"model", "affects_type_approval", "rationale"},
            optional={"rxswin_before", "new_rxswin"},
        )
        _text(item["model"], f"{where}: an assessment's vehicle type", max_length=64)
        if not isinstance(item["affects_type_approval"], bool):
            raise PackageError(f"{where}: an assessment's affects_type_approval is not a boolean")
        _text(item["rationale"], f"{where}: an assessment's rationale", max_length=5000)
        before = _text(
            item.get("rxswin_before", ""), f"{where}: an RXSWIN", max_length=64, blank=True
        )
        if before and not rxswin.valid_rxswin(before):
            raise PackageError(f"{where}: rxswin_before {_shown(before)} is not an RXSWIN")
        new = _text(item.get("new_rxswin", ""), f"{where}: an RXSWIN", max_length=64, blank=True)
        assessments.append(
            rxswin.Assessment(
                model=item["model"],
                affects_type_approval=item["affects_type_approval"],
                rationale=item["rationale"],
                new_rxswin=new,
            )
        )
    try:  # the types are those assessed: which types a market has is this deployment's to know
        rxswin.check_assessments(assessments, vehicle_types={a.model for a in assessments})
    except rxswin.AssessmentError as exc:
        raise PackageError(f"{where}: its assessments are not valid: {exc.problems}") from None
    return market


def _rxswin_entry(entry: Any, markets: set[str]) -> None:
    _fields(
        entry, "an RXSWIN register entry", required={"model", "market", "rxswin"}, optional={"note"}
    )
    _text(entry["model"], "an RXSWIN register entry's vehicle type", max_length=64)
    if not isinstance(entry["market"], str) or entry["market"] not in markets:
        raise PackageError(f"an RXSWIN register entry is for {_shown(entry['market'])}")
    value = _text(entry["rxswin"], "an RXSWIN register entry's RXSWIN", max_length=64)
    if not rxswin.valid_rxswin(value):
        raise PackageError(f"{_shown(value)} in the RXSWIN register is not an RXSWIN")
    _text(entry.get("note", ""), "an RXSWIN register entry's note", max_length=5000, blank=True)


def _bundle(entry: Any, where: str, *, max_bundle_bytes: int) -> None:
    _fields(
        entry,
        where,
        required={
            "path",
            "hardware_id",
            "version",
            "release_counter",
            "length",
            "sha256",
            "sha512",
            "file",
        },
        optional={"requires"},
    )
    path = entry["path"]
    if not isinstance(path, str) or not valid_target_path(path):
        raise PackageError(f"{where}: {_shown(path)} is not a target path")
    where = f"{where} ({path})"
    if not isinstance(entry["hardware_id"], str) or not valid_hardware_id(entry["hardware_id"]):
        raise PackageError(f"{where}: {_shown(entry['hardware_id'])} is not a hardware id")
    _text(entry["version"], f"{where}: its version", max_length=64)
    _integer(entry["release_counter"], f"{where}: its release_counter", MAX_RELEASE_COUNTER)
    _integer(entry["length"], f"{where}: its length", max_bundle_bytes)
    if not (isinstance(entry["sha256"], str) and HEX64.fullmatch(entry["sha256"])) or not (
        isinstance(entry["sha512"], str) and HEX128.fullmatch(entry["sha512"])
    ):
        raise PackageError(f"{where}: its sha256 or sha512 is not a lowercase hex digest")
    if entry["file"] != f"bundles/{entry['sha256']}":
        raise PackageError(f"{where}: its file is not bundles/<its sha256>")
    requires = entry.get("requires") or {}
    if not isinstance(requires, dict):
        raise PackageError(f"{where}: its requires is not an object")
    for hardware_id, counter in requires.items():
        if not valid_hardware_id(hardware_id):
            raise PackageError(f"{where}: requires {_shown(hardware_id)}, not a hardware id")
        _integer(counter, f"{where}: the counter it requires of {hardware_id}", MAX_BIGINT)


def _fields(item: Any, where: str, *, required: set[str], optional: set[str]) -> None:
    """An object with these fields and no others (as the API refuses unknown fields)."""
    if not isinstance(item, dict):
        raise PackageError(f"{where} is not an object")
    missing = sorted(required - item.keys())
    if missing:
        raise PackageError(f"{where} lacks {', '.join(missing)}")
    unknown = sorted(item.keys() - required - optional)
    if unknown:
        raise PackageError(f"{where} has unknown fields {_shown(unknown)}")


def _text(value: Any, where: str, *, max_length: int, blank: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_length or not (blank or value.strip()):
        raise PackageError(f"{where} is not text of {0 if blank else 1} to {max_length} characters")
    return value


def _integer(value: Any, where: str, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= highest:
        raise PackageError(f"{where} is not a whole number from 0 to {highest}")
    return value


def _moment(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PackageError(f"{where} is not an ISO 8601 time with its offset")
    return moment


def _person(value: Any, where: str) -> str:
    if not isinstance(value, str) or not USERNAME.fullmatch(value):
        raise PackageError(f"{where} is not a user name")
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise PackageError(f"{where} is not a list")
    return value


def _once(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PackageError(f"{what} {_shown(value)} is listed twice")
        seen.add(value)


def _storable(manifest: Any) -> None:
    """No NUL and no unpaired surrogate in any string, key or value, notes included."""
    pending = [manifest]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend([*value.keys(), *value.values()])
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and UNSTORABLE.search(value):
            raise PackageError("the manifest holds a NUL or an unpaired surrogate")


def _shown(value: Any) -> str:
    """A value from the manifest in a message: quoted, escaped, never long."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
