"""Start Django for a benchmark on a fresh database in a temporary directory (SQLite by
default, or the PostgreSQL of BENCH_DATABASE_URL), migrated and with signing keys."""

import os
import sys
import tempfile
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_up() -> Path:
    var = Path(tempfile.mkdtemp(prefix="ota-bench-"))
    os.environ["OTA_VAR_DIR"] = str(var)
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or (
        f"sqlite:///{var / 'bench.sqlite3'}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ota.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ota_init", stdout=StringIO())
    return var


def people():
    """An engineer and an approver (four eyes), as the services want them."""
    from django.contrib.auth.models import Group, User

    from rollouts.roles import APPROVER, RELEASE_ENGINEER

    engineer, _ = User.objects.get_or_create(username="bench-engineer")
    approver, _ = User.objects.get_or_create(username="bench-approver")
    engineer.groups.add(Group.objects.get(name=RELEASE_ENGINEER))
    approver.groups.add(Group.objects.get(name=APPROVER))
    return engineer, approver


def running_rollout(*, stages=None, policy=None):
    """A published head-unit bundle, released and rolled out to `stable`, running."""
    import io

    from rollouts.models import Channel
    from rollouts.services import releases, rollouts
    from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish

    engineer, approver = people()
    spec = BundleSpec(
        path="hu-gen7/bench.bin", hardware_id="hu-gen7", version="9.0.0", release_counter=900
    )
    bundle = bundle_ingest_file(spec=spec, stream=io.BytesIO(os.urandom(4096)), actor=None)
    bundle, _ = bundle_publish(bundle=bundle, actor=None)
    release = releases.release_create(
        spec=releases.ReleaseSpec(version="bench", notes="", bundle_ids=[bundle.pk]),
        actor=engineer,
    )
    releases.release_approve(release=release, actor=approver)
    rollout = rollouts.rollout_create(
        release=release,
        channel=Channel.objects.get(name="stable"),
        actor=engineer,
        stages=stages
        or [
            {"percent": 100, "min_soak_minutes": 600, "gate": "auto", "max_duration_minutes": 6000}
        ],
        policy=policy,
    )
    rollouts.rollout_approve(rollout=rollout, actor=approver)
    return rollouts.rollout_start(rollout=rollout, actor=approver, override_reason="benchmark")


def timed(function, repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    import statistics
    import time

    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
