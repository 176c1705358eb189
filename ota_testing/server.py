"""A test server in its own process: `ota_testserver` with a fresh data directory (SQLite,
local files, local keys) on a free port of 127.0.0.1, stopped with the suite."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ota_testing.api import ManagementClient
from ota_testing.clock import ServerClock
from ota_testing.harness import OtaServer

START_TIMEOUT = 120.0
# The server's settings come from its own defaults and these, never from the suite's
# environment (a suite's DATABASE_URL or OTA_* must not leak into it).
_OURS = ("OTA_", "DJANGO_", "DATABASE_")


class ServerProcess:
    """`settings`: OTA_* variables of this deployment beyond the embedded defaults (a second
    deployment serving one market, say)."""

    def __init__(self, workdir: Path, settings: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen | None = None
        self.settings = dict(settings or {})

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        env.update(
            DJANGO_SETTINGS_MODULE="ota.settings",
            OTA_VAR_DIR=str(self.workdir / "var"),
            OTA_TEST_CLOCK="1",
            # What a test signs, a car reads back at once.
            OTA_IMAGE_TIMESTAMP_LEASE_SECONDS="0",
            PYTHONUNBUFFERED="1",
            # The server's code is where this harness came from (a checkout or site-packages).
            PYTHONPATH=os.pathsep.join(
                p for p in (str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")) if p
            ),
        )
        env.update(self.settings)
        return env

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command against this server's deployment (its database, files
        and keys), as its operator would."""
        return subprocess.run(  # noqa: S603  (our interpreter, our command)
            [sys.executable, "-m", "ota.cli", *args],
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self) -> OtaServer:
        ready = self.workdir / "ready.json"
        env = self.environment()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (our interpreter, our command)
                [
                    *(sys.executable, "-m", "ota.cli", "ota_testserver"),
                    *("--ready-file", str(ready), "--parent-pid", str(os.getpid())),
                ],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not ready.exists():
                if self.process.poll() is not None:
                    raise RuntimeError(f"the OTA test server exited at start:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the OTA test server did not start:\n{self.log_tail()}")
                time.sleep(0.1)
            return self._connect(json.loads(ready.read_text()))
        except BaseException:
            self.stop()  # never leave a server behind a suite that could not use it
            raise

    def _connect(self, info: dict) -> OtaServer:
        people = {
            role: ManagementClient(
                info["url"],
                info[role]["token"],
                username=info[role]["username"],
                password=info[role]["password"],
            )
            for role in ("author", "approver")
        }
        return OtaServer(
            url=info["url"],
            author=people["author"],
            approver=people["approver"],
            clock=ServerClock(people["author"]),
            workdir=self.workdir,
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
