"""People's API tokens: stored hashed, several per person, each revocable, some expiring."""

import importlib
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import UserToken
from accounts.services import user_token_create, user_token_revoke
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

LIST = "/api/v1/manage/releases"


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_database_and_the_admin_hold_no_usable_token(engineer, admin_client):
    token, plaintext = user_token_create(user=engineer, name="ci")
    assert plaintext not in str(UserToken.objects.values().get(pk=token.pk))
    page = admin_client.get("/admin/accounts/usertoken/")
    assert page.status_code == 200
    assert plaintext not in page.content.decode()
    assert token.prefix in page.content.decode()


def test_a_person_may_hold_several_tokens_and_revoke_one_alone(engineer):
    first, first_plain = user_token_create(user=engineer, name="pipeline A")
    _, second_plain = user_token_create(user=engineer, name="pipeline B")
    assert client_with(first_plain).get(LIST).status_code == 200
    assert client_with(second_plain).get(LIST).status_code == 200

    user_token_revoke(token=first, actor=engineer, reason="pipeline retired")
    assert client_with(first_plain).get(LIST).status_code == 401
    assert client_with(second_plain).get(LIST).status_code == 200
    assert AuditEvent.objects.filter(action="user_token.revoke").count() == 1


def test_an_expired_token_is_refused(engineer):
    _, plaintext = user_token_create(
        user=engineer, expires_at=timezone.now() - timedelta(seconds=1)
    )
    answer = client_with(plaintext).get(LIST)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("header", ["Token nothex", "Token " + "0" * 40, "Token a b"])
def test_unknown_or_malformed_tokens_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(LIST).status_code == 401


def test_an_inactive_users_tokens_stop_working(engineer):
    _, plaintext = user_token_create(user=engineer)
    engineer.is_active = False
    engineer.save()
    assert client_with(plaintext).get(LIST).status_code == 401


def test_drf_create_token_prints_a_new_token_and_the_earlier_ones_keep_working(engineer):
    printed = []
    for _ in range(2):
        out = io.StringIO()
        call_command("drf_create_token", engineer.username, stdout=out)
        words = out.getvalue().split()
        assert words[0:2] == ["Generated", "token"]
        assert words[3:] == ["for", "user", engineer.username]
        printed.append(words[2])
    assert printed[0] != printed[1]
    for plaintext in printed:
        assert client_with(plaintext).get(LIST).status_code == 200


def test_drf_create_token_reset_revokes_the_others(engineer):
    _, old = user_token_create(user=engineer)
    out = io.StringIO()
    call_command("drf_create_token", engineer.username, "--reset", stdout=out)
    new = out.getvalue().split()[2]
    assert client_with(old).get(LIST).status_code == 401
    assert client_with(new).get(LIST).status_code == 200


def test_keys_issued_by_drf_authtoken_are_hashed_and_keep_working(engineer):
    """The data migration, on a table shaped like DRF's authtoken_token."""
    key = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp "
            "with time zone NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [key, timezone.now() - timedelta(days=30), engineer.pk],
        )
    migration = importlib.import_module("accounts.migrations.0002_tokens_from_drf_authtoken")
    from django.apps import apps

    migration.copy_drf_tokens(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no key left in clear
    migrated = UserToken.objects.get(user=engineer)
    assert migrated.created_at < timezone.now() - timedelta(days=29)
    assert key not in str(UserToken.objects.values().get(pk=migrated.pk))
    assert client_with(key).get(LIST).status_code == 200
