"""Drive one demo car through a real poll cycle against a running server."""

import json

from django.core.management.base import BaseCommand, CommandError

from demo.fleet import (
    demo_car_dir,
    demo_fleet,
    demo_sim_ecus,
    demo_token_load,
    demo_token_save,
    demo_url_load,
)
from rollouts.models import Vehicle
from rollouts.selectors import vehicle_for_token
from rollouts.services.vehicles import vehicle_token_rotate
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import InstalledImage


class Command(BaseCommand):
    help = (
        "Poll as demo car N with the reference vehicle client: PUT a signed manifest, refresh "
        "Director and Image metadata with python-tuf, verify, download, install, report. "
        "Run it twice: the second manifest shows the new versions and nothing more is offered."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default=None, help="the server (default: where `make run` serves)"
        )
        parser.add_argument("--car", type=int, default=0, help="which demo car (0 = the first)")
        parser.add_argument("--outcome", choices=["success", "failure", "defer"], default="success")

    def handle(self, *args, url: str | None, car: int, outcome: str, **options):
        url = url or demo_url_load()
        demo = list(demo_fleet(car + 1))[car]
        vehicle = Vehicle.objects.select_related("channel").filter(vin=demo.vin).first()
        if vehicle is None:
            raise CommandError(f"{demo.vin} is not provisioned: run `manage.py seed_demo` first")
        token = demo_token_load(demo.vin)
        if token is None or getattr(vehicle_for_token(token=token), "pk", None) != vehicle.pk:
            token = vehicle_token_rotate(vehicle=vehicle, actor=None, reason="demo_poll")
            demo_token_save(demo.vin, token)
        workdir = demo_car_dir(demo.vin)
        client = VehicleClient(url, demo.vin, token, demo_sim_ecus(demo), workdir)
        client.report_counter = max(vehicle.report_counter, 0)
        # The car remembers what it installed between runs, as a real one would.
        state = workdir / "installed.json"
        if state.exists():
            for serial, image in json.loads(state.read_text()).items():
                client.ecus[serial].installed = InstalledImage(**image)
        client.bootstrap()

        result = client.poll_cycle(outcome=outcome)

        state.write_text(json.dumps({s: e.installed.__dict__ for s, e in client.ecus.items()}))
        self.stdout.write(f"{demo.vin} ({demo.model}, {demo.region}, channel {vehicle.channel})")
        self.stdout.write(f"  manifest answer: {result.manifest}")
        for target in result.offered:
            self.stdout.write(
                f"  offered {target.path} for {target.ecu.serial} (release counter "
                f"{target.release_counter}): Director and Image repositories agree"
            )
        self.stdout.write(f"  installed on: {', '.join(result.installed) or 'nothing'}")
        self.stdout.write(f"  failed on: {', '.join(result.failed) or 'nothing'}")
        self.stdout.write(f"  events: {result.events or 'none sent'}")
