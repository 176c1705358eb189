from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0019_rollout_started_before_delivering"),
    ]

    operations = [
        migrations.AlterField(
            model_name="evaluation",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("wait", "Wait (soaking or inconclusive)"),
                    ("advance", "Advanced a stage"),
                    ("complete", "Completed"),
                    ("await_approval", "Healthy; a manual gate waits for a person"),
                    ("pause", "Paused: inconclusive past the stage's maximum duration"),
                    ("halt", "Halted"),
                    ("skipped", "Not running"),
                    ("error", "Not evaluated: the evaluator failed on it (see the audit trail)"),
                ],
                max_length=16,
            ),
        ),
    ]
