"""The distribution a downstream team installs: `pip install ota-rollouts` from the wheel."""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.package, pytest.mark.slow]
NOT_SOURCES = (".venv", "var", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


def run(*command, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="runs once, in the SQLite pass of CI (no database)"
)
def test_the_wheel_installs_into_an_empty_venv_serves_and_tests_from_there(tmp_path):
    # Built from a copy: setuptools writes build/ beside the sources, and a stale one would hide
    # a file the package no longer declares.
    source = tmp_path / "source"
    shutil.copytree(settings.BASE_DIR, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    wheels = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", wheels, cwd=source)
    (wheel,) = wheels.glob("ota_rollouts-*.whl")

    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, cwd=tmp_path)

    # Nothing from the checkout on the path: an empty folder, the installed package only.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "OTA_VAR_DIR": str(tmp_path / "var")}
    where = run(
        bin_dir / "python",
        "-c",
        "import ota, vehicle_client.simulation; print(ota.__file__)",
        cwd=elsewhere,
        env=env,
    )
    assert str(tmp_path / "venv") in where
    manage = bin_dir / "ota-manage"
    run(manage, "migrate", "--noinput", cwd=elsewhere, env=env)  # migrations are packaged
    run(manage, "ota_init", cwd=elsewhere, env=env)
    run(manage, "check", cwd=elsewhere, env=env)
    # Templates and static files of every app are in the package.
    for static in ("console/console.css", "signing/bundle_upload.js", "rollouts/rollout_form.js"):
        assert "Found" in run(manage, "findstatic", static, cwd=elsewhere, env=env)
    run(
        manage,
        "shell",
        "-c",
        "from django.template.loader import get_template as t; "
        "[t(n) for n in ('console/pipeline.html', 'admin/service_form.html', "
        "'admin/signing/bundle/upload.html', 'admin/rollouts/rollout/change_form.html')]",
        cwd=elsewhere,
        env=env,
    )

    # A downstream team's suite: plain pytest, the plugin found through its entry point.
    run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        f"pytest=={pytest.__version__}",
        cwd=tmp_path,
    )
    downstream = tmp_path / "downstream"
    shutil.copytree(settings.BASE_DIR / "examples" / "downstream", downstream)
    report = run(
        bin_dir / "python", "-m", "pytest", "-p", "no:cacheprovider", cwd=downstream, env=env
    )
    assert "plugins: ota-rollouts" in report
    assert "4 passed" in report
