"""Sign evidence or release exports with a new key; the old one stays published."""

from django.core.management.base import BaseCommand

from compliance.models import KeyPurpose
from compliance.services.keys import export_key_rotate


class Command(BaseCommand):
    help = "Sign exports of PURPOSE with a fresh key from now on (the old key stays published)."

    def add_arguments(self, parser):
        parser.add_argument("purpose", choices=KeyPurpose.values)

    def handle(self, *args, purpose, **options):
        key = export_key_rotate(purpose=purpose)
        self.stdout.write(f"{purpose} exports are now signed by {key.keyid}.")
