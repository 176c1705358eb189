"""Start-up checks: the signing keys exist and decrypt, and production settings are sane."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connection

from signing import keys
from signing.models import KeyBackend, Repo, SigningKey
from signing.storage import bundle_storage


@register()
def check_signing_keys(app_configs=None, **kwargs):
    try:
        if SigningKey._meta.db_table not in connection.introspection.table_names():
            return []  # not migrated yet: migrate comes first
        rows = list(SigningKey.objects.filter(retired_at__isnull=True))
    except DatabaseError:
        return []  # no database to look at (e.g. `check --deploy` on a build machine)

    problems = []
    for repo in Repo.values:
        if not any(row.repo == repo for row in rows):
            kind = Warning if settings.DEBUG else Error
            problems.append(
                kind(
                    f"The {repo} repository has no signing keys.",
                    hint="Run `manage.py ota_init` (see docs/operations.md, key custody).",
                    id="signing.E001" if kind is Error else "signing.W001",
                )
            )
    for row in rows:
        if row.backend == KeyBackend.LOCAL:
            try:
                keys.load_private_key(bytes(row.encrypted_private_key))
            except keys.KeyUnavailable:
                problems.append(
                    Error(
                        f"The {row.repo}/{row.role} key {row.keyid[:12]} cannot be decrypted.",
                        hint="OTA_KEY_PASSPHRASE is not the passphrase the keys were made with.",
                        id="signing.E002",
                    )
                )
    return problems


@register(Tags.security, deploy=True)
def check_signing_production(app_configs=None, **kwargs):
    if settings.OTA_KEY_PASSPHRASE == settings.DEV_KEY_PASSPHRASE:
        return [
            Error(
                "OTA_KEY_PASSPHRASE is the development passphrase.",
                hint="Set a long random OTA_KEY_PASSPHRASE before creating keys.",
                id="signing.E003",
            )
        ]
    return []


@register()
def check_signing_configuration(app_configs=None, **kwargs):
    problems = []
    if settings.OTA_ONLINE_KEY_BACKEND not in {"local", "kms"}:
        problems.append(
            Error("OTA_ONLINE_KEY_BACKEND must be 'local' or 'kms'.", id="signing.E004")
        )
    if settings.OTA_ONLINE_KEY_BACKEND == "kms" and not settings.OTA_KMS_REGION:
        problems.append(Error("KMS keys need OTA_KMS_REGION.", id="signing.E005"))
    if settings.OTA_BUNDLE_STORAGE == "s3":
        if settings.OTA_S3_HOME_REGION not in settings.OTA_S3_BUCKETS:
            problems.append(
                Error(
                    "OTA_BUNDLE_STORAGE=s3 needs a bucket for the home region in OTA_S3_BUCKETS.",
                    hint="e.g. OTA_S3_BUCKETS=US=ota-us,EU=ota-eu,CN=ota-cn",
                    id="signing.E006",
                )
            )
    elif settings.OTA_BUNDLE_STORAGE != "local":
        problems.append(Error("OTA_BUNDLE_STORAGE must be 'local' or 's3'.", id="signing.E007"))
    for market in settings.OTA_AZURE_MARKETS:
        options = settings.STORAGES.get(f"bundles-{market}", {}).get("OPTIONS", {})
        if not options.get("connection_string"):
            problems.append(
                Error(
                    f"The Azure market {market} has no connection string.",
                    hint=f"Set OTA_AZURE_{market}_CONNECTION_STRING (AccountName, AccountKey "
                    "and EndpointSuffix or BlobEndpoint) and OTA_AZURE_"
                    f"{market}_CONTAINER.",
                    id="signing.E008",
                )
            )
        elif not _signing_key(market):
            # A car's URL is a read-only SAS for one blob, which only the account key signs
            # (the backend's `url()`); a SharedAccessSignature in the connection string would
            # fail every download.
            problems.append(
                Error(
                    f"The Azure market {market}'s connection string has no AccountKey.",
                    hint="Downloads are read-only SAS URLs for one blob, signed with the "
                    "account key: a connection string with a SharedAccessSignature cannot "
                    "sign them.",
                    id="signing.E009",
                )
            )
    return problems


def _signing_key(market: str) -> str:
    """The account key the market's storage signs download URLs with, as django-storages
    read it from the connection string ("" when there is none, or the string is unreadable)."""
    try:
        return bundle_storage(market).account_key or ""
    except ValueError:
        return ""
