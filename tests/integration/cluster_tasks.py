"""Tasks the task-cluster tests queue (imported by the cluster's worker processes)."""

import time
from pathlib import Path


def slow(log_dir: str, name: str, seconds: float) -> None:
    """Notes its start, takes `seconds`, then notes that it ran to the end."""
    log = Path(log_dir)
    (log / f"started-{name}").touch()
    time.sleep(seconds)
    with (log / "done.log").open("a") as done:
        done.write(f"{name}\n")
