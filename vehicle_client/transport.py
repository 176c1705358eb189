"""How the client speaks HTTP. urllib3 by default; anything with `request()` will do."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import urllib3
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self):
        import json

        return json.loads(self.body)


class Transport(Protocol):
    def request(
        self, method: str, url: str, *, headers: dict[str, str], body: bytes | None = None
    ) -> Answer: ...


class Urllib3Transport:
    """Real HTTP. Redirects are followed; urllib3 drops Authorization when one leaves the host,
    so a presigned storage URL never sees the vehicle token."""

    def __init__(self, timeout: float = 30.0):
        self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(timeout))

    def request(self, method, url, *, headers, body=None) -> Answer:
        response = self._pool.request(method, url, headers=headers, body=body, redirect=True)
        return Answer(response.status, response.data, dict(response.headers))

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._pool.clear()


class TransportFetcher(FetcherInterface):
    """python-tuf's fetcher over our transport, presenting the vehicle token."""

    def __init__(self, transport: Transport, token: str | None):
        self.transport = transport
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _fetch(self, url: str) -> Iterator[bytes]:
        answer = self.transport.request("GET", url, headers=self.headers)
        if answer.status >= 400:
            raise exceptions.DownloadHTTPError(f"HTTP {answer.status} for {url}", answer.status)
        return iter([answer.body])
