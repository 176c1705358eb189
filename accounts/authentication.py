"""`Authorization: Token <token>` for people and CI pipelines, against hashed tokens."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from accounts import tokens
from accounts.models import UserToken
from ota.api import authorization_credentials

# Written at most this often per token: a pipeline calling in a loop writes no row per call.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class UserTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        plaintext = authorization_credentials(request, "Token", invalid="Invalid token.")
        if plaintext is None:
            return None
        token = self._active(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token

    @staticmethod
    def _active(plaintext: str) -> UserToken | None:
        if not tokens.well_formed(plaintext):
            return None
        now = timezone.now()
        candidates = UserToken.objects.filter(
            prefix=plaintext[: tokens.PREFIX_LENGTH], revoked_at__isnull=True
        ).select_related("user")
        for token in candidates:
            if not tokens.matches(plaintext, token.digest):
                continue
            if token.expires_at is not None and token.expires_at <= now:
                return None
            if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
                UserToken.objects.filter(pk=token.pk).update(last_used_at=now)
            return token
        return None

    def authenticate_header(self, request) -> str:
        return "Token"


class UserTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.UserTokenAuthentication"
    name = "tokenAuth"  # the name DRF's TokenAuthentication had in the schema

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`: `manage.py drf_create_token <user>` prints one.",
        }
