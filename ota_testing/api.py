"""The management API as a test uses it: JSON in, JSON out, an exception on any error."""

import json
from typing import Any

import urllib3


class ApiError(AssertionError):
    """The server refused a request; its error body (`{"error": {...}}`) is kept."""

    def __init__(self, method: str, path: str, status: int, body: bytes):
        self.status = status
        try:
            self.error = json.loads(body).get("error", {})
        except (ValueError, AttributeError):
            self.error = {"message": body[:500].decode(errors="replace")}
        super().__init__(f"{method} {path}: HTTP {status} {self.error}")

    @property
    def code(self) -> str:
        return self.error.get("code", "")


class ManagementClient:
    """One person's view of the management API (`/api/v1/…`), with their token."""

    def __init__(self, base_url: str, token: str, *, username: str = "", password: str = ""):
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self._token = token
        self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(60))

    def __repr__(self) -> str:
        return f"<ManagementClient {self.username or '?'} at {self.base_url}>"

    def request(
        self, method: str, path: str, *, json_body: Any = None, fields=None, raw: bool = False
    ) -> Any:
        """`path` under /api/v1/. `fields`: a multipart form (a file as (name, bytes)).
        Answers the JSON body, or the bytes with `raw`."""
        headers = {"Authorization": f"Token {self._token}"}
        url = f"{self.base_url}/api/v1/{path.lstrip('/')}"
        if fields is not None:
            response = self._pool.request(method, url, fields=fields, headers=headers)
        else:
            body = None
            if json_body is not None:
                headers["Content-Type"] = "application/json"
                body = json.dumps(json_body).encode()
            response = self._pool.request(method, url, body=body, headers=headers)
        if response.status >= 400:
            raise ApiError(method, path, response.status, response.data)
        if raw:
            return response.data
        return json.loads(response.data) if response.data else None

    def close(self) -> None:
        self._pool.clear()

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json_body=body if body is not None else {})

    def upload(self, path: str, fields: dict) -> Any:
        return self.request("POST", path, fields=fields)
