from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce

DELIVERING = ("running", "paused", "halted", "completed")


def stamp_rollouts_resumed_without_a_start(apps, schema_editor):
    """Before this, `resume` could make an approved rollout run without a start: such a
    rollout is stamped as started when it was made, so the constraint holds for it."""
    Rollout = apps.get_model("rollouts", "Rollout")
    unstamped = Rollout.objects.filter(status__in=DELIVERING)
    unstamped.filter(started_at__isnull=True).update(started_at=F("created_at"))
    unstamped.filter(stage_started_at__isnull=True).update(
        stage_started_at=Coalesce("started_at", "created_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0018_release_approved_markets"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(stamp_rollouts_resumed_without_a_start, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="rollout",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("status__in", ("running", "paused", "halted", "completed")), _negated=True
                    ),
                    models.Q(("stage_started_at__isnull", False), ("started_at__isnull", False)),
                    _connector="OR",
                ),
                name="rollout_started_before_delivering",
            ),
        ),
    ]
