from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RolloutsConfig(AppConfig):
    name = "rollouts"
    verbose_name = "Fleet and rollouts"

    def connect_roles(self) -> None:
        """After the migrate of the last app whose permissions the roles name: post_migrate
        is sent app by app, and each app's permissions exist only after its own."""
        from django.apps import apps

        from rollouts.roles import ROLES, sync_roles

        labels = {perm.split(".")[0] for perms in ROLES.values() for perm in perms}
        last = [config for config in apps.get_app_configs() if config.label in labels][-1]
        post_migrate.connect(sync_roles, sender=last, dispatch_uid="rollouts.sync_roles")

    def connect_signing(self) -> None:
        """`signing` never imports `rollouts`: it announces, and the decisions move here."""
        from rollouts.services.decisions import bundle_decisions_changed
        from signing.services.copies import bundle_copy_verified
        from signing.services.deltas import delta_ready

        def delta_changed(sender, delta, **kwargs):
            bundle_decisions_changed(bundle_id=delta.result_id)

        def copy_changed(sender, bundle, market, **kwargs):
            bundle_decisions_changed(bundle_id=bundle.pk, regions=[market])

        delta_ready.connect(delta_changed, weak=False, dispatch_uid="rollouts.delta_decisions")
        bundle_copy_verified.connect(
            copy_changed, weak=False, dispatch_uid="rollouts.copy_decisions"
        )

    def ready(self) -> None:
        self.connect_roles()
        self.connect_signing()
