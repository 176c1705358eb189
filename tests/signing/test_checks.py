import pytest

from signing import checks
from signing.models import SigningKey


def ids(problems) -> list[str]:
    return [problem.id for problem in problems]


@pytest.mark.django_db
def test_missing_keys_warn_in_development_and_fail_in_production(settings):
    settings.DEBUG = True
    assert ids(checks.check_signing_keys()) == ["signing.W001", "signing.W001"]
    settings.DEBUG = False
    assert ids(checks.check_signing_keys()) == ["signing.E001", "signing.E001"]


@pytest.mark.django_db
def test_initialised_keys_pass(repos):
    assert checks.check_signing_keys() == []


@pytest.mark.django_db
def test_keys_that_do_not_decrypt_fail(repos, settings):
    settings.OTA_KEY_PASSPHRASE = "wrong"
    problems = checks.check_signing_keys()
    assert set(ids(problems)) == {"signing.E002"}
    assert len(problems) == SigningKey.objects.filter(backend="local").count()


def test_the_development_passphrase_fails_deployment(settings):
    assert ids(checks.check_signing_production()) == ["signing.E003"]
    settings.OTA_KEY_PASSPHRASE = "a long random passphrase"
    assert checks.check_signing_production() == []


def test_s3_storage_without_a_home_bucket_fails(settings):
    settings.OTA_BUNDLE_STORAGE = "s3"
    settings.OTA_S3_BUCKETS = {"EU": "ota-eu"}
    settings.OTA_S3_HOME_REGION = "US"
    assert ids(checks.check_signing_configuration()) == ["signing.E006"]


def test_kms_without_a_region_fails(settings):
    settings.OTA_ONLINE_KEY_BACKEND = "kms"
    settings.OTA_KMS_REGION = ""
    assert ids(checks.check_signing_configuration()) == ["signing.E005"]


def test_an_azure_market_without_a_connection_string_is_refused(settings):
    settings.OTA_AZURE_MARKETS = ["CN"]
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles-CN": {
            "BACKEND": "storages.backends.azure_storage.AzureStorage",
            "OPTIONS": {"connection_string": None, "azure_container": "bundles"},
        },
    }

    assert ids(checks.check_signing_configuration()) == ["signing.E008"]


def test_an_azure_market_whose_connection_string_carries_a_sas_not_a_key_is_refused(settings):
    settings.OTA_AZURE_MARKETS = ["CN", "EU"]
    sas = "BlobEndpoint=https://otacn.blob.core.chinacloudapi.cn/;SharedAccessSignature=sv=x&sig=y"
    key = "AccountName=otaeu;AccountKey=a2V5Cg==;EndpointSuffix=core.windows.net"
    settings.STORAGES = {
        **settings.STORAGES,
        **{
            f"bundles-{market}": {
                "BACKEND": "storages.backends.azure_storage.AzureStorage",
                "OPTIONS": {"connection_string": value, "azure_container": "bundles"},
            }
            for market, value in (("CN", sas), ("EU", key))
        },
    }

    problems = checks.check_signing_configuration()

    assert ids(problems) == ["signing.E009"]
    assert "CN" in problems[0].msg
