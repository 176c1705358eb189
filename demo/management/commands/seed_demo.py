"""Seed the demo: an admin user, a fleet across US/EU/CN, published bundles, a vehicle to try."""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from accounts.services import user_token_create
from demo import seed
from demo.fleet import demo_fleet, demo_token_save, demo_url_save
from rollouts.models import Vehicle
from rollouts.services.vehicles import vehicle_token_rotate


class Command(BaseCommand):
    help = "Create the demo admin user and fleet (idempotent) and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument("--vehicles", type=int, default=3000)
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, vehicles: int, port: int, **options):
        password = seed.ensure_admin()
        # A new token each run, beside the earlier ones: a token printed before keeps working.
        _, api_token = user_token_create(
            user=User.objects.get(username=seed.ADMIN_USERNAME), name="printed by make run"
        )
        created = seed.ensure_fleet(vehicles, self.stderr.write)
        published = seed.ensure_bundles()
        seed.ensure_rxswin_register()
        seed.ensure_releases()
        seed.ensure_staged_rollouts(vehicles, self.stderr.write)
        seed.ensure_cohorts(vehicles)
        showcase = next(demo_fleet(1))
        vehicle_token = vehicle_token_rotate(
            vehicle=Vehicle.objects.get(vin=showcase.vin),
            actor=None,
            reason="demo start: a fresh token to try",
        )
        base = f"http://127.0.0.1:{port}"
        demo_token_save(showcase.vin, vehicle_token)
        demo_url_save(base)
        self.stdout.write(
            f"""
Demo fleet: {Vehicle.objects.count()} vehicles ({created} new); {published} demo bundles published.

  Admin        {base}/admin/   user {seed.ADMIN_USERNAME!r}, password {password!r}
  API docs     {base}/api/docs/
  Health       {base}/healthz

  Management API as the admin (an API token, new each run; earlier ones keep working):
    curl -H 'Authorization: Token {api_token}' '{base}/api/v1/manage/vehicles?region=EU'
  Vehicle API as {showcase.vin} (this token is new every start; demo_poll polls with it):
    curl -H 'Authorization: Bearer {vehicle_token}' {base}/api/v1/vehicles/{showcase.vin}
  One demo car through a real poll cycle (reference client: sign, verify, download, install):
    .venv/bin/python manage.py demo_poll
  Signed Image repository (TUF; any TUF 1.0 client, e.g. python-tuf's ngclient):
    curl {base}/api/v1/tuf/image/metadata/1.root.json
    curl {base}/api/v1/tuf/image/metadata/timestamp.json
"""
        )
