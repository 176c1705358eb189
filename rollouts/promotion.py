"""The promotion gate: when a release may start on the next channel. Pure."""


def gate_closed_because(
    *, completed: bool, halts: int, exposure_hours: float, required_hours: float
) -> dict | None:
    """None when the gate is open. Otherwise why not: the release must have completed on the
    previous channel without any halt, with at least the required driving exposure there."""
    if not completed:
        return {"why": "not completed on the previous channel"}
    if halts:
        return {"why": "halted on the previous channel", "halts": halts}
    if exposure_hours < required_hours:
        return {
            "why": "not enough exposure on the previous channel",
            "exposure_hours": round(exposure_hours, 1),
            "required_hours": required_hours,
        }
    return None
