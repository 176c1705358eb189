from django.db import migrations

# rollouts/plans.py MAX_STAGE_MINUTES, as it was when this ran.
MAX_STAGE_MINUTES = 366 * 24 * 60


def bound_stored_stage_plans(apps, schema_editor):
    """Plans stored before stage durations were bounded: a longer stage is cut to the bound,
    which the evaluator can add to its clock (a larger one overflowed and stopped it)."""
    Rollout = apps.get_model("rollouts", "Rollout")
    for rollout in Rollout.objects.only("pk", "stages").iterator():
        stages = [
            {
                **stage,
                **{
                    name: min(stage[name], MAX_STAGE_MINUTES)
                    for name in ("min_soak_minutes", "max_duration_minutes")
                    if isinstance(stage.get(name), int) and stage[name] > MAX_STAGE_MINUTES
                },
            }
            for stage in rollout.stages or []
        ]
        if stages != rollout.stages:
            Rollout.objects.filter(pk=rollout.pk).update(stages=stages)


class Migration(migrations.Migration):
    dependencies = [("rollouts", "0020_evaluation_outcome_error")]

    operations = [migrations.RunPython(bound_stored_stage_plans, migrations.RunPython.noop)]
