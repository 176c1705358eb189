"""Periodic jobs of the rollouts app, upserted by `manage.py sync_schedules`."""

SCHEDULES = [
    {
        "name": "rollouts.evaluate_rollouts",
        "func": "rollouts.tasks.evaluate_rollouts",
        "schedule_type": "I",  # minutes
        "minutes": 1,
    },
]
