from django.apps import AppConfig


class SigningConfig(AppConfig):
    name = "signing"
    verbose_name = "Signing and TUF repositories"

    def ready(self) -> None:
        from signing import checks  # noqa: F401  (registers the system checks)
