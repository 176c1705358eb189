"""PostgreSQL: leave room in each page of the vehicle table, so that the row an idle poll
rewrites (counter, latest manifest) can be updated in place (a HOT update, no index entries)."""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value: int = 80):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("rollouts", "Vehicle")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, 100)


class Migration(migrations.Migration):
    dependencies = [("rollouts", "0011_poll_state")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
