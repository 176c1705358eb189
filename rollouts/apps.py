from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Fleet and rollouts"

    def connect_roles(self) -> None:
        from rollouts.roles import sync_roles

        post_migrate.connect(sync_roles, sender=self, dispatch_uid="rollouts.sync_roles")

    def connect_signing(self) -> None:
        """`signing` never imports `rollouts`: it announces, and the decisions move here."""
        from rollouts.services.decisions import bundle_decisions_changed
        from signing.services.copies import bundle_copy_verified
        from signing.services.deltas import delta_ready

        def delta_changed(sender, delta, **kwargs):
            bundle_decisions_changed(bundle_id=delta.result_id)

        def copy_changed(sender, bundle, **kwargs):
            bundle_decisions_changed(bundle_id=bundle.pk)

        delta_ready.connect(delta_changed, weak=False, dispatch_uid="rollouts.delta_decisions")
        bundle_copy_verified.connect(
            copy_changed, weak=False, dispatch_uid="rollouts.copy_decisions"
        )

    def ready(self) -> None:
        self.connect_roles()
        self.connect_signing()
