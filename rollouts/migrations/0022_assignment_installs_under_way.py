from django.db import migrations, models

from ota.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    # Built CONCURRENTLY on PostgreSQL: polls write assignments while it builds.
    atomic = False

    dependencies = [("rollouts", "0021_bound_stored_stage_plans")]

    operations = [
        AddIndexOnline(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("status__in", ["downloading", "installing"])),
                fields=["rollout", "started_at"],
                name="assignment_installs_under_way",
            ),
        ),
    ]
