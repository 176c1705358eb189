"""The release engineer's admin: fleet, releases and rollouts, telemetry."""

from rollouts.admin import (  # noqa: F401 (registers)
    cohorts,
    fleet,
    notifications,
    releases,
    telemetry,
)
