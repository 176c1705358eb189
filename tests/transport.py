"""The reference client's transport over Django's test client: the same vehicle, in-process."""

from urllib.parse import urlsplit

from django.test import Client

from vehicle_client.transport import Answer


class DjangoClientTransport:
    def __init__(self) -> None:
        self.client = Client()

    def request(self, method, url, *, headers, body=None) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {
            f"HTTP_{name.upper().replace('-', '_')}": value
            for name, value in headers.items()
            if name.lower() != "content-type"
        }
        response = self.client.generic(
            method,
            path,
            data=body or b"",
            content_type=headers.get("Content-Type", "application/octet-stream"),
            **extra,
        )
        content = b"".join(response.streaming_content) if response.streaming else response.content
        return Answer(response.status_code, content, dict(response.headers))
