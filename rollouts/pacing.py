"""How long a vehicle waits before its next poll. Pure."""


def poll_after(
    *, base: int, recent_polls: int, capacity: int, ceiling: int, jitter: float = 1.0
) -> int:
    """Seconds until the next poll: `base` (short while an install is pending, long when idle),
    stretched in proportion when the fleet polls faster than the deployment's `capacity` per
    minute, spread by `jitter` (about 0.8 to 1.2, so a fleet does not poll in step), and
    never above `ceiling`."""
    load = recent_polls / capacity if capacity > 0 else 0.0
    return max(1, min(ceiling, round(base * max(1.0, load) * jitter)))
