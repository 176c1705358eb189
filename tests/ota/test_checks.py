import pytest

from ota import checks

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def use_engine(settings, engine: str) -> None:
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "ENGINE": engine}}


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


def test_the_embedded_defaults_pass_every_check(settings):
    use_engine(settings, "django.db.backends.sqlite3")
    settings.OTA_REDIS_URL = ""
    assert checks.check_database() == []
    assert checks.check_task_broker() == []
    assert checks.check_regions() == []
    assert checks.check_market_time_zones() == []


def test_a_market_time_zone_that_does_not_exist_is_an_error(settings):
    settings.OTA_MARKET_TIME_ZONES = {"EU": "Europe/Berlin", "US": "America/Springfield"}
    assert ids(checks.check_market_time_zones()) == ["ota.E007"]


def test_an_unsupported_database_is_an_error(settings):
    use_engine(settings, "django.db.backends.mysql")
    assert ids(checks.check_database()) == ["ota.E001"]


def test_a_redis_url_that_is_not_one_is_an_error(settings):
    settings.OTA_REDIS_URL = "http://127.0.0.1:6379"
    assert ids(checks.check_task_broker()) == ["ota.E003"]


def test_a_redis_url_passes(settings):
    settings.OTA_REDIS_URL = "redis://127.0.0.1:6379/0"
    assert checks.check_task_broker() == []


def test_bad_regions_are_an_error(settings):
    settings.OTA_REGIONS = ["us", "EU"]
    assert ids(checks.check_regions()) == ["ota.E005"]
    settings.OTA_REGIONS = []
    assert ids(checks.check_regions()) == ["ota.E005"]


def test_deployment_checks_warn_about_embedded_parts(settings):
    use_engine(settings, "django.db.backends.sqlite3")
    settings.OTA_REDIS_URL = ""
    assert ids(checks.check_production_parts()) == ["ota.W001", "ota.W002"]
    settings.OTA_REDIS_URL = "redis://127.0.0.1:6379/0"
    use_engine(settings, "django.db.backends.postgresql")
    assert checks.check_production_parts() == []
