"""A python-tuf fetcher that presents the vehicle's bearer token to our server."""

from collections.abc import Iterator

import urllib3
from tuf.api import exceptions
from tuf.ngclient import Urllib3Fetcher


class BearerFetcher(Urllib3Fetcher):
    """Like python-tuf's own fetcher, with `Authorization: Bearer <token>` on every request.

    urllib3 drops the header when a redirect leaves the host, so a presigned storage URL
    never sees the token.
    """

    def __init__(self, token: str | None, *, socket_timeout: int = 30) -> None:
        super().__init__(socket_timeout=socket_timeout, app_user_agent="ota-vehicle-client/1")
        headers = {"User-Agent": "ota-vehicle-client/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._pool = urllib3.PoolManager(headers=headers)

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self._pool.request(
                "GET", url, preload_content=False, timeout=urllib3.Timeout(self.socket_timeout)
            )
        except urllib3.exceptions.MaxRetryError as exc:
            if isinstance(exc.reason, urllib3.exceptions.TimeoutError):
                raise exceptions.SlowRetrievalError from exc
            raise
        if response.status >= 400:
            response.close()
            raise exceptions.DownloadHTTPError(
                f"HTTP error occurred with status {response.status}", response.status
            )
        return self._chunks(response)
