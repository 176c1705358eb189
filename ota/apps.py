from django.apps import AppConfig


class OtaConfig(AppConfig):
    """The project itself: start-up checks and the commands that span every app."""

    name = "ota"
    verbose_name = "OTA server"

    def ready(self) -> None:
        from django.conf import settings

        from ota import checks  # noqa: F401  (registers the system checks)

        if settings.OTA_TEST_CLOCK:
            from ota import server_clock

            server_clock.install()
