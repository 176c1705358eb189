"""Several web nodes stay correct: a change committed through one node is obeyed by the very
next poll through another. Two gunicorn processes share the test's PostgreSQL database, its
bundle directory and one Redis database, as production nodes do; whatever a node remembers
between polls must never let it answer from a stale decision."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import urllib3
from django.conf import settings as django_settings

from accounts.services import user_token_create
from rollouts.roles import APPROVER, RELEASE_ENGINEER
from tests.factories import make_vin
from tests.integration.processes import SERVER_PROCESS_TEST, database_url
from vehicle_client.client import VehicleClient
from vehicle_client.ecu import SimEcu

pytestmark = SERVER_PROCESS_TEST

ALL_AT_ONCE = [{"percent": 100, "min_soak_minutes": 0, "gate": "auto", "max_duration_minutes": 60}]


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def shared_redis(worker_id) -> str:
    # A Redis database of its own: tests/integration/test_redis.py counts down from 15 per
    # xdist worker, this counts down from 7.
    number = 7 - (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = f"redis://127.0.0.1:6379/{number}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("no Redis on 127.0.0.1:6379 (CI starts one): the nodes share their cache there")
    client.flushdb()
    yield url
    client.flushdb()


def start_node(name: str, env: dict[str, str], log: Path) -> Node:
    """gunicorn with one worker on a socket bound here first: the port is never free between
    choosing it and serving on it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    try:
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "ota.wsgi",
                    "--bind",
                    f"fd://{listener.fileno()}",
                    "--workers",
                    "1",
                    "--log-level",
                    "warning",
                    "--no-control-socket",  # else every gunicorn on the machine shares one path
                ],
                env=env,
                cwd=django_settings.BASE_DIR,
                stdout=output,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,
            )
    finally:
        listener.close()
    return Node(name, f"http://127.0.0.1:{port}", process, log)


def stop_nodes(nodes: list[Node]) -> None:
    """SIGTERM to each node's process group (gunicorn and its worker), then wait for all."""
    for node in nodes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGTERM)
    for node in nodes:
        try:
            node.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(timeout=20)


def wait_until_healthy(node: Node, seconds: float = 30) -> None:
    http = urllib3.PoolManager()
    deadline = time.monotonic() + seconds
    while True:
        if node.process.poll() is not None:
            pytest.fail(f"node {node.name} exited ({node.process.returncode}):\n{node.log_tail()}")
        try:
            answer = http.request("GET", f"{node.url}/healthz", retries=False, timeout=5)
            if answer.status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"node {node.name} did not answer /healthz:\n{node.log_tail()}")
        time.sleep(0.1)


@pytest.fixture
def nodes(settings, tmp_path, shared_redis, repos):
    """Nodes A and B: their own processes, one database, one bundle directory, one Redis."""
    var = settings.VAR_DIR  # tmp_path / "var", from the autouse _isolated_files
    # The test's bundle storage is where the nodes keep theirs: $OTA_VAR_DIR/bundles.
    settings.STORAGES = {
        **settings.STORAGES,
        "bundles": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(var / "bundles")},
        },
    }
    # This process shares the nodes' cache too, as every process of a deployment does.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": shared_redis,
        }
    }
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "OTA_VAR_DIR": str(var),
        "OTA_BUNDLE_STORAGE": "local",
        "OTA_REDIS_URL": shared_redis,
        "OTA_TYPE_APPROVAL_MARKETS": "none",  # as the suite runs (tests/compliance for it)
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "two-nodes-" * 6,
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1, no proxy
    }
    started: list[Node] = []
    try:
        for name in ("A", "B"):
            started.append(start_node(name, env, tmp_path / f"node-{name}.log"))
        for node in started:
            wait_until_healthy(node)
        yield started[0], started[1]
    finally:
        stop_nodes(started)


class Management:
    """One node's management API as one user, over HTTP with a DRF token."""

    def __init__(self, node: Node, user):
        _, token = user_token_create(user=user, name="two nodes")
        self.node, self.base = node, f"{node.url}/api/v1/manage"
        self.headers = {"Authorization": f"Token {token}"}
        self.http = urllib3.PoolManager()

    def post(self, path: str, body: dict | None = None, *, expect: int = 200) -> dict:
        return self._call("POST", path, body, expect)

    def put(self, path: str, body: dict, *, expect: int = 200) -> dict:
        return self._call("PUT", path, body, expect)

    def upload(self, path: str, fields: dict, *, expect: int = 201) -> dict:
        answer = self.http.request("POST", self.base + path, fields=fields, headers=self.headers)
        return self._checked("POST", path, answer, expect)

    def _call(self, method: str, path: str, body: dict | None, expect: int) -> dict:
        answer = self.http.request(
            method,
            self.base + path,
            body=json.dumps(body or {}).encode(),
            headers={**self.headers, "Content-Type": "application/json"},
        )
        return self._checked(method, path, answer, expect)

    def _checked(self, method, path, answer, expect: int) -> dict:
        assert answer.status == expect, (
            f"{method} {path} through node {self.node.name}: HTTP {answer.status} "
            f"{answer.data[:500]!r}\n{self.node.log_tail()}"
        )
        return answer.json()


@pytest.fixture
def people(nodes, make_user) -> tuple[Management, Management]:
    """A release engineer and an approver (four eyes), both working through node A."""
    node_a, _ = nodes
    return (
        Management(node_a, make_user("erin", RELEASE_ENGINEER)),
        Management(node_a, make_user("ada", APPROVER)),
    )


@pytest.fixture
def provision(people, nodes, tmp_path):
    """A car provisioned through node A that polls through node B, with the reference client."""
    engineer, _ = people
    _, node_b = nodes

    def provision_one(channel: str = "stable") -> VehicleClient:
        vin = make_vin()
        ecus = [
            SimEcu(f"TCU-{vin[-6:]}", "tcu-gen3", primary=True),
            SimEcu(f"HU-{vin[-6:]}", "hu-gen7"),
        ]
        body = {"vin": vin, "model": "Aurora", "region": "EU", "channel": channel}
        answer = engineer.post(
            "/vehicles", {**body, "ecus": [e.provisioning() for e in ecus]}, expect=201
        )
        car = VehicleClient(node_b.url, vin, answer["token"], ecus, tmp_path / "cars" / vin)
        car.bootstrap()
        return car

    return provision_one


def roll_out(
    people, *, policy: dict | None = None, cohort: str | None = None, stages: list | None = None
) -> tuple[str, int]:
    """Through node A: upload and publish a head-unit bundle, release it and start a rollout
    on `stable` (at 100 % unless `stages` say otherwise). Returns the bundle's path and the
    rollout's id."""
    engineer, approver = people
    bundle = engineer.upload(
        "/bundles",
        {
            "path": "hu-gen7/image-7.1.0.bin",
            "hardware_id": "hu-gen7",
            "version": "7.1.0",
            "release_counter": "710",
            "file": ("image.bin", os.urandom(64_000), "application/octet-stream"),
        },
    )
    engineer.post(f"/bundles/{bundle['id']}/publish")
    release = engineer.post(
        "/releases", {"version": "7.1.0", "notes": "", "bundles": [bundle["id"]]}, expect=201
    )
    approver.post(f"/releases/{release['id']}/approve")
    rollout = engineer.post(
        "/rollouts",
        {
            "release": release["id"],
            "channel": "stable",
            "stages": stages or ALL_AT_ONCE,
            **({"policy": policy} if policy else {}),
            **({"cohort": cohort} if cohort else {}),
        },
        expect=201,
    )
    approver.post(f"/rollouts/{rollout['id']}/approve")
    started = approver.post(
        f"/rollouts/{rollout['id']}/start", {"override_reason": "test: straight to stable"}
    )
    assert started["status"] == "running", started
    return bundle["path"], rollout["id"]


def offered(car: VehicleClient) -> set[str]:
    """One poll that installs nothing: put the manifest, then read (and verify) the Director
    targets. The paths the car is offered."""
    answer = car.put_manifest()
    assert answer.status == 200, f"manifest refused: HTTP {answer.status} {answer.body[:300]!r}"
    return {target.path for target in car.refresh_and_verify()}


def test_a_halt_and_a_resume_through_node_a_are_obeyed_by_the_next_poll_through_node_b(
    people, provision
):
    engineer, _ = people
    installer, unstarted, waiting = provision(), provision(), provision()
    for car in (installer, unstarted, waiting):
        assert offered(car) == set(), "node B offered something before anything was rolled out"

    path, rollout_id = roll_out(people, policy={"on_halt": "retract"})

    result = installer.poll_cycle()
    assert [t.path for t in result.offered] == [path], (
        "node B did not offer the release after the start committed through node A"
    )
    assert result.installed, "the car could not install the bundle node B served"
    assert offered(unstarted) == {path}, "node B did not offer the release to a second car"

    engineer.post(f"/rollouts/{rollout_id}/halt", {"reason": "test: halt through node A"})

    assert offered(unstarted) == set(), (
        "node B still listed the release for a car that had not started installing after the "
        "halt (on_halt: retract) committed through node A"
    )
    assert offered(waiting) == set(), (
        "node B offered the release after the halt committed through node A"
    )

    engineer.post(f"/rollouts/{rollout_id}/resume", {"reason": "test: resume through node A"})

    assert offered(waiting) == {path}, (
        "node B did not offer the release after the resume committed through node A"
    )


def test_a_cohort_edit_and_channel_moves_through_node_a_are_obeyed_by_the_next_poll_through_node_b(
    people, provision
):
    engineer, _ = people
    leaver, outsider, joiner = provision(), provision(), provision(channel="beta")
    engineer.post("/cohorts", {"name": "early", "kind": "static"}, expect=201)
    engineer.post("/cohorts/early/members", {"vins": [leaver.vin, joiner.vin]})
    for car in (leaver, outsider, joiner):
        assert offered(car) == set(), "node B offered something before anything was rolled out"

    path, _ = roll_out(people, cohort="early")

    assert offered(leaver) == {path}, (
        "node B did not offer the release after the start committed through node A"
    )
    assert offered(outsider) == set(), "node B offered the release to a car outside its cohort"
    assert offered(joiner) == set(), "node B offered a stable release to a car on beta"

    engineer.post("/cohorts/early/members", {"vins": [outsider.vin]})
    assert offered(outsider) == {path}, (
        "node B did not offer the release to a car added to the cohort through node A"
    )

    engineer.put(f"/vehicles/{leaver.vin}/channel", {"channel": "beta"})
    assert offered(leaver) == set(), (
        "node B still offered the stable release to a car moved to beta through node A"
    )

    engineer.put(f"/vehicles/{joiner.vin}/channel", {"channel": "stable"})
    assert offered(joiner) == {path}, (
        "node B did not offer the release to a car moved to stable through node A"
    )


def test_an_advance_through_node_a_reaches_a_car_it_brings_in_at_its_next_poll_through_node_b(
    people, provision
):
    from rollouts.models import Rollout
    from rollouts.targeting import bucket

    _, approver = people
    stages = [
        {"percent": 10, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
        {"percent": 100, "min_soak_minutes": 0, "gate": "manual", "max_duration_minutes": 60},
    ]
    path, rollout_id = roll_out(people, stages=stages)
    salt = Rollout.objects.get(pk=rollout_id).salt
    later = next(c for c in iter(provision, None) if bucket(salt, c.vin) >= 1000)
    assert offered(later) == set(), "node B offered the release to a car outside stage 1"
    assert offered(later) == set()  # and it polls idle now: the advance must reach it

    approver.post(f"/rollouts/{rollout_id}/advance")

    assert offered(later) == {path}, (
        "node B did not offer the release to a car the advance through node A brought in"
    )
