"""Periodic jobs of the compliance app, upserted by `manage.py sync_schedules`."""

SCHEDULES = [
    {
        "name": "compliance.prune_evidence",
        "func": "compliance.tasks.prune_evidence",
        "schedule_type": "D",  # daily
    },
    {
        "name": "compliance.resume_stalled_exports",
        "func": "compliance.tasks.resume_stalled_exports",
        "schedule_type": "I",  # minutes
        "minutes": 30,
    },
]
