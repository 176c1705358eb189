"""Keys issued by DRF's authtoken (which stored them in clear) become hashed tokens that keep
working; the clear keys are then deleted. DRF's table is left empty, not dropped."""

from django.db import migrations

from accounts.tokens import of

DRF_TABLE = "authtoken_token"


def copy_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if DRF_TABLE not in connection.introspection.table_names():
        return
    UserToken = apps.get_model("accounts", "UserToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {DRF_TABLE}")  # noqa: S608
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        stored = of(key)
        token = UserToken.objects.create(
            user_id=user_id,
            name="issued by DRF authtoken",
            prefix=stored.prefix,
            digest=stored.digest,
        )
        UserToken.objects.filter(pk=token.pk).update(created_at=created)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DRF_TABLE}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(copy_drf_tokens, migrations.RunPython.noop)]
