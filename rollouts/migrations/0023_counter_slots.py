from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rollouts", "0022_assignment_installs_under_way"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="rolloutcounter",
            options={"ordering": ["rollout", "stage_index", "slot"]},
        ),
        migrations.RemoveConstraint(
            model_name="rolloutcounter",
            name="counter_one_per_stage",
        ),
        migrations.AddField(
            model_name="rolloutcounter",
            name="slot",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name="rolloutcounter",
            constraint=models.UniqueConstraint(
                fields=("rollout", "stage_index", "slot"), name="counter_one_per_stage_slot"
            ),
        ),
    ]
