"""The release engineer's admin: fleet, releases and rollouts, telemetry."""

from rollouts.admin import fleet, notifications, releases, telemetry  # noqa: F401 (registers)
