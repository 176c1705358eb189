from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Isolated market deployments"

    def ready(self) -> None:
        from federation import checks  # noqa: F401  (registers the start-up check)
