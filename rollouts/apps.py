from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Fleet and rollouts"

    def connect_roles(self) -> None:
        from rollouts.roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="rollouts.sync_roles")

    def ready(self) -> None:
        self.connect_roles()
