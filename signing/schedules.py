"""Periodic jobs of the signing app, declared as data and upserted by `manage.py sync_schedules`."""

SCHEDULES = [
    {
        "name": "signing.refresh_image_metadata",
        "func": "signing.tasks.refresh_image_metadata",
        "schedule_type": "I",  # minutes
        "minutes": 10,
    },
    {
        "name": "signing.resume_stalled_verifications",
        "func": "signing.tasks.resume_stalled_verifications",
        "schedule_type": "I",  # minutes
        "minutes": 10,
    },
    {
        "name": "signing.resume_stalled_delta_builds",
        "func": "signing.tasks.resume_stalled_delta_builds",
        "schedule_type": "I",  # minutes
        "minutes": 30,
    },
    {
        "name": "signing.resume_stalled_copies",
        "func": "signing.tasks.resume_stalled_copies",
        "schedule_type": "I",  # minutes
        "minutes": 30,
    },
    {
        "name": "signing.prune_director_metadata",
        "func": "signing.tasks.prune_director_metadata",
        "schedule_type": "D",  # daily
    },
]
