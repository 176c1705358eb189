"""`manage.py drf_create_token USER`: a new API token, beside the user's others.

Named and worded like DRF's command, which CI pipelines and the README call; unlike DRF's, a
new token never invalidates the ones issued before (`--reset` revokes them)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import UserToken
from accounts.services import user_token_create, user_token_revoke


class Command(BaseCommand):
    help = "Print a new API token for a user (the user's other tokens keep working)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for, e.g. a pipeline")
        parser.add_argument("--expires-days", type=int, default=None, help="lifetime in days")
        parser.add_argument(
            "-r", "--reset", action="store_true", help="revoke the user's other tokens"
        )

    def handle(self, *args, username: str, name: str, expires_days, reset: bool, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"Cannot create the Token: user {username} does not exist") from None
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be at least 1.")
        if reset:
            for token in UserToken.objects.filter(user=user, revoked_at__isnull=True):
                user_token_revoke(token=token, reason="drf_create_token --reset")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        _, plaintext = user_token_create(user=user, name=name, expires_at=expires_at)
        self.stdout.write(f"Generated token {plaintext} for user {username}")
