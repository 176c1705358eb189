import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.parametrize(
    "modules",
    [
        "vehicle_client.client, vehicle_client.simulation",
        # The pytest plugin and the fleet simulator: a suite that is not Django uses them.
        "ota_testing, ota_testing.plugin, ota_testing.server, ota_testing.simulator",
        # The release import's parser: checks a manifest by the API's rules, before any ORM.
        "federation.package",
    ],
)
def test_what_runs_outside_django_imports_no_django(modules):
    check = (
        f"import sys, {modules}; "
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
