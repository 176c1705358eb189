"""The release export's manifest, checked without the database: what an isolated market's
deployment accepts from the main one (docs/isolated-markets.md)."""

import json
import re
from typing import Any

FORMAT = "ota-release-export/1"
MANIFEST = "release.json"
SIGNATURE = "release.json.sig"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")
SAFE_NAME = re.compile(r"^bundles/[0-9a-f]{64}$")


class PackageError(ValueError):
    """The export is not one this deployment can trust or use; says what."""


def parse_manifest(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST_BYTES:
        raise PackageError("the manifest is larger than 4 MiB")
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise PackageError("the manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f"not a release export of format {FORMAT}")
    release = manifest.get("release")
    if not isinstance(release, dict) or not _strings(
        release, "version", "author", "approved_by", "approved_at"
    ):
        raise PackageError("the manifest's release lacks its version, author or approval")
    for approval in _list(manifest, "market_approvals"):
        if not _strings(approval, "market", "approved_by", "approved_at"):
            raise PackageError("a market approval lacks its market or approver")
        for item in _list(approval, "assessments"):
            if not _strings(item, "model", "rationale") or not isinstance(
                item.get("affects_type_approval"), bool
            ):
                raise PackageError("an assessment lacks its vehicle type, verdict or rationale")
    for entry in _list(manifest, "rxswins"):
        if not _strings(entry, "model", "market", "rxswin"):
            raise PackageError("an RXSWIN register entry is malformed")
    bundles = manifest.get("bundles")
    if not isinstance(bundles, list) or not bundles:
        raise PackageError("the manifest lists no bundle")
    for bundle in bundles:
        if not isinstance(bundle, dict):
            raise PackageError("a bundle entry is not an object")
        if not (
            isinstance(bundle.get("path"), str)
            and isinstance(bundle.get("hardware_id"), str)
            and isinstance(bundle.get("version"), str)
            and isinstance(bundle.get("release_counter"), int)
            and isinstance(bundle.get("length"), int)
            and bundle["length"] >= 0
            and HEX64.match(str(bundle.get("sha256", "")))
            and HEX128.match(str(bundle.get("sha512", "")))
            and SAFE_NAME.match(str(bundle.get("file", "")))
        ):
            raise PackageError(f"bundle entry {str(bundle.get('path'))[:200]!r} is malformed")
    if not isinstance(manifest.get("markets"), list):
        raise PackageError("the manifest names no market")
    return manifest


def _strings(item: Any, *names: str) -> bool:
    return isinstance(item, dict) and all(isinstance(item.get(n), str) for n in names)


def _list(item: dict, name: str) -> list:
    found = item.get(name, [])
    if not isinstance(found, list):
        raise PackageError(f"{name} is not a list")
    return found
