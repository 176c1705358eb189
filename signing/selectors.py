"""Reads for the TUF endpoints and the management API."""

import re

from signing.models import Bundle, BundleStatus, RoleMetadata

_HASHED_NAME = re.compile(r"^(?P<hash>[0-9a-f]{64}|[0-9a-f]{128})\.(?P<name>.+)$")


def metadata_version(repo: str, role: str, version: int, scope: str = "") -> RoleMetadata | None:
    return RoleMetadata.objects.filter(repo=repo, scope=scope, role=role, version=version).first()


def metadata_latest(repo: str, role: str, scope: str = "") -> RoleMetadata | None:
    return (
        RoleMetadata.objects.filter(repo=repo, scope=scope, role=role).order_by("-version").first()
    )


def published_bundle_for_target(target: str) -> Bundle | None:
    """A target URL is either the plain path or `{dir}/{hash}.{name}` (consistent snapshots)."""
    directory, _, filename = target.rpartition("/")
    hashed = _HASHED_NAME.match(filename)
    published = Bundle.objects.filter(status=BundleStatus.PUBLISHED)
    if hashed:
        path = f"{directory}/{hashed['name']}" if directory else hashed["name"]
        digest = hashed["hash"]
        field = "sha256" if len(digest) == 64 else "sha512"
        found = published.filter(path=path, **{field: digest}).first()
        if found:
            return found
    return published.filter(path=target).first()
