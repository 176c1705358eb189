"""System checks: fail loudly when a production part is switched on but misconfigured."""

import re
from importlib.util import find_spec
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

SUPPORTED_ENGINES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
REGION_RE = re.compile(r"^[A-Z][A-Z0-9-]{1,15}$")


@register(Tags.database)
def check_database(app_configs=None, **kwargs):
    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine not in SUPPORTED_ENGINES:
        problems.append(
            Error(
                f"DATABASE_URL selects {engine}, which this server does not support.",
                hint="Use postgres://user:password@host:5432/name, or unset it for SQLite.",
                id="ota.E001",
            )
        )
    if engine == "django.db.backends.postgresql" and find_spec("psycopg") is None:
        problems.append(
            Error("DATABASE_URL selects PostgreSQL but psycopg is not installed.", id="ota.E002")
        )
    return problems


@register()
def check_task_broker(app_configs=None, **kwargs):
    url = settings.OTA_REDIS_URL
    if not url:
        return []
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss", "unix"} or not (parsed.hostname or parsed.path):
        return [
            Error(
                f"OTA_REDIS_URL is not a Redis URL: {url!r}.",
                hint="Use redis://host:6379/0 (rediss:// for TLS), or unset it for the ORM broker.",
                id="ota.E003",
            )
        ]
    if find_spec("redis") is None:
        return [Error("OTA_REDIS_URL is set but the redis package is missing.", id="ota.E004")]
    return []


@register()
def check_regions(app_configs=None, **kwargs):
    bad = [region for region in settings.OTA_REGIONS if not REGION_RE.match(region)]
    if not settings.OTA_REGIONS or bad:
        return [
            Error(
                f"OTA_REGIONS must list market codes like US,EU,CN; got {settings.OTA_REGIONS!r}",
                id="ota.E005",
            )
        ]
    return []


@register()
def check_market_time_zones(app_configs=None, **kwargs):
    from rollouts.install_policy import valid_time_zone

    bad = {m: z for m, z in settings.OTA_MARKET_TIME_ZONES.items() if not valid_time_zone(z)}
    if bad:
        return [
            Error(
                f"OTA_MARKET_TIME_ZONES names unknown time zones: {bad!r}",
                hint="Use IANA names, like Europe/Berlin.",
                id="ota.E007",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_production_parts(app_configs=None, **kwargs):
    problems = []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        problems.append(
            Warning(
                "The database is the embedded SQLite file.",
                hint="Set DATABASE_URL to PostgreSQL for production.",
                id="ota.W001",
            )
        )
    if not settings.OTA_REDIS_URL:
        problems.append(
            Warning(
                "django-q2 uses the ORM broker.",
                hint="Set OTA_REDIS_URL so workers on several machines share a Redis broker.",
                id="ota.W002",
            )
        )
    if settings.OTA_TEST_CLOCK:
        problems.append(
            Error(
                "OTA_TEST_CLOCK is on: anyone signed in may move this server's clock.",
                hint="It exists for the pytest plugin's test server only; unset it.",
                id="ota.E006",
            )
        )
    return problems
