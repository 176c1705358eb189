import subprocess
import sys

from django.conf import settings


def test_the_reference_vehicle_and_its_fleet_simulation_import_no_django():
    check = (
        "import sys, vehicle_client.client, vehicle_client.simulation; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django'); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", check],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
