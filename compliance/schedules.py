"""Periodic jobs of the compliance app, upserted by `manage.py sync_schedules`."""

SCHEDULES = [
    {
        "name": "compliance.prune_evidence",
        "func": "compliance.tasks.prune_evidence",
        "schedule_type": "D",  # daily
    },
]
