from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Markets and type approval"

    def ready(self) -> None:
        """Every offer and outcome `rollouts` announces is kept as evidence, in its own
        transaction."""
        from compliance.services.evidence import evidence_record
        from rollouts.signals import assignments_moved

        def record(sender, moves, rollouts=(), **kwargs):
            evidence_record(moves=moves, rollouts=rollouts)

        assignments_moved.connect(record, weak=False, dispatch_uid="compliance.evidence")
