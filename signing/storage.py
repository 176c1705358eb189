"""Where bundle bytes live: the named Django storage `bundles` (the home one), and one per
market (`bundles-<market>`) on S3 or Azure Blob Storage."""

import contextlib
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

from ota.errors import Unavailable

logger = logging.getLogger(__name__)


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"
    message = "Bundle storage cannot be reached or written; nothing was changed. Try again later."


@contextlib.contextmanager
def reachable():
    """Storage errors (a full or read-only disk, a bucket that cannot be reached or refuses
    us) become a 503 with Retry-After instead of a 500; what the caller does under this is
    done before anything of it is recorded."""
    try:
        yield
    except (OSError, *_cloud_errors()) as exc:
        logger.warning("Bundle storage failed: %r", exc)
        raise StorageUnavailable(detail={"reason": type(exc).__name__}) from exc


def _cloud_errors() -> tuple[type[Exception], ...]:
    """The cloud SDKs' errors: S3's (boto3) and Azure's."""
    from azure.core.exceptions import AzureError
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, AzureError)


def blob_name(sha256: str) -> str:
    """Content-addressed: a name never changes its bytes, so caches may keep it forever."""
    return f"blobs/{sha256[:2]}/{sha256}"


def bundle_storage(region: str | None = None) -> Storage:
    alias = f"bundles-{region}"
    if region and alias in settings.STORAGES:
        return storages[alias]
    return storages["bundles"]


def home_region() -> str:
    return settings.OTA_S3_HOME_REGION


def replica_regions() -> list[str]:
    """Regions with their own bucket, other than the home one that receives uploads."""
    return [
        alias.removeprefix("bundles-")
        for alias in settings.STORAGES
        if alias.startswith("bundles-") and alias != f"bundles-{home_region()}"
    ]


def is_local(storage: Storage) -> bool:
    return isinstance(storage, FileSystemStorage)


def presigned_put_url(storage: Storage, name: str, expires: int) -> str:
    """A URL the uploader PUTs the bytes to, straight into the bucket."""
    client = storage.connection.meta.client
    return client.generate_presigned_url(
        "put_object",
        Params={"Bucket": storage.bucket_name, "Key": storage._normalize_name(name)},
        ExpiresIn=expires,
    )


def describe(market: str | None = None) -> dict[str, str | bool]:
    """Where a market's bundles live, for people: the kind, the account, the bucket or
    container and the endpoint's scheme and host. Never a credential: an Azure SDK's
    `primary_endpoint` carries a connection string's SharedAccessSignature as its query (a
    read-write key to the container), and a URL may hold a user and password; nor the
    server's own folders."""
    store = bundle_storage(market)
    own = market in replica_regions()
    if is_local(store):
        return {
            "kind": "local",
            "account": "",
            "location": "files on this server",
            "endpoint": "this server",
            "own": own,
        }
    if hasattr(store, "azure_container"):
        client = store.service_client  # parsed from the connection string by the SDK, no I/O
        return {
            "kind": "azure",
            "account": client.account_name or "",
            "location": store.azure_container,
            "endpoint": endpoint_origin(client.primary_endpoint),
            "own": own,
        }
    endpoint = endpoint_origin(store.endpoint_url) if store.endpoint_url else ""
    return {
        "kind": "s3",
        "account": "",
        "location": store.bucket_name,
        "endpoint": endpoint or store.region_name or "AWS",
        "own": own,
    }


def endpoint_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: no user, password, path, query or fragment."""
    parts = urlsplit(url)
    if not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: leave it out
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
