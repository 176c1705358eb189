"""The simulated fleet the rollout tests drive (shared with the demo)."""

from ota.simulation import Fleet

__all__ = ["Fleet"]
