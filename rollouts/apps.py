from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Fleet and rollouts"

    def connect_roles(self) -> None:
        from rollouts.roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="rollouts.sync_roles")

    def connect_deltas(self) -> None:
        from rollouts.services.decisions import delta_decisions_changed
        from signing.services.deltas import delta_ready

        def changed(sender, delta, **kwargs):
            delta_decisions_changed(delta=delta)

        delta_ready.connect(changed, weak=False, dispatch_uid="rollouts.delta_decisions")

    def ready(self) -> None:
        self.connect_roles()
        self.connect_deltas()
