"""The reference client's transport over Django's test client (shared with the demo)."""

from ota.simulation import InProcessTransport as DjangoClientTransport

__all__ = ["DjangoClientTransport"]
