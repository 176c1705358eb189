"""Start-up check: the main deployment's keys an isolated deployment trusts can be read."""

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings
from django.core.checks import Error, register


@register()
def check_release_import_keys(app_configs=None, **kwargs):
    problems = []
    for path in settings.OTA_RELEASE_IMPORT_KEYS:
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(
                Error(
                    f"OTA_RELEASE_IMPORT_KEYS names {path}, which is not a readable PEM public "
                    f"key ({type(exc).__name__}).",
                    hint="Give the PEM of the main deployment's `releases` export key "
                    "(GET /api/v1/export-keys there); docs/isolated-markets.md.",
                    id="federation.E001",
                )
            )
            continue
        if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
            problems.append(
                Error(
                    f"{path} is neither an Ed25519 nor an ECDSA P-256 key.",
                    id="federation.E002",
                )
            )
    return problems
