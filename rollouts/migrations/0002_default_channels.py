from django.db import migrations

DEFAULT_PIPELINE = [
    ("dev", "Development", "Internal builds on engineering vehicles.", False),
    (
        "forever-beta",
        "Forever beta",
        "Opt-in cohort (owners, staff, test fleets) that receives every beta build first; "
        "its telemetry is the first gate for every wider rollout.",
        True,
    ),
    ("beta", "Beta", "Wider pre-release audience.", False),
    (
        "stable",
        "Stable",
        "The whole fleet. Vehicles follow this channel unless told otherwise.",
        False,
    ),
]


def create_pipeline(apps, schema_editor):
    Channel = apps.get_model("rollouts", "Channel")
    for position, (name, title, description, self_service) in enumerate(DEFAULT_PIPELINE):
        Channel.objects.get_or_create(
            name=name,
            defaults={
                "title": title,
                "description": description,
                "position": position,
                "self_service": self_service,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("rollouts", "0001_initial")]

    operations = [migrations.RunPython(create_pipeline, migrations.RunPython.noop)]
