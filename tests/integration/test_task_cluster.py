"""`manage.py qcluster` stops within seconds of SIGTERM, and every queued task is kept: the
tasks its pusher had fetched go back to the broker (ORM or Redis) and run after a restart,
each exactly once."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings

from tests.integration.processes import SERVER_PROCESS_TEST, database_url

pytestmark = SERVER_PROCESS_TEST

TASK = "tests.integration.cluster_tasks.slow"
GRACE = 4


def use_broker(kind: str, worker_id: str, monkeypatch) -> tuple:
    """The broker the test queues on, and the environment that gives the cluster the same."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    env = {"DATABASE_URL": database_url(), "OTA_REDIS_URL": ""}
    if kind == "redis":
        # A Redis database of its own: test_redis.py counts down from 15, test_two_nodes from 7.
        number = 11 - (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
        url = f"redis://127.0.0.1:6379/{number}"
        try:
            redis.Redis.from_url(url).flushdb()
        except redis.exceptions.ConnectionError:
            message = "no Redis on 127.0.0.1:6379 (CI starts one)"
            if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_SERVICES"):
                pytest.fail(message)
            pytest.skip(message)
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)
        env["OTA_REDIS_URL"] = url
    return get_broker(), env


@pytest.fixture(params=["orm", "redis"])
def any_broker(request, worker_id, monkeypatch):
    broker, env = use_broker(request.param, worker_id, monkeypatch)
    yield broker, env
    if env["OTA_REDIS_URL"]:
        redis.Redis.from_url(env["OTA_REDIS_URL"]).flushdb()


@pytest.fixture
def orm_broker(worker_id, monkeypatch):
    return use_broker("orm", worker_id, monkeypatch)


def queue(broker, log_dir: Path, count: int, seconds: float) -> list[str]:
    from django_q.tasks import async_task

    names = [f"t{n}" for n in range(count)]
    for name in names:
        async_task(TASK, str(log_dir), name, seconds, broker=broker)
    return names


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            env={
                **os.environ,
                **env,
                "OTA_Q_WORKERS": "2",
                "OTA_Q_STOP_GRACE_SECONDS": str(GRACE),
                "PYTHONUNBUFFERED": "1",
            },
            cwd=django_settings.BASE_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(condition, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the cluster exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def sigterm_and_time(process: subprocess.Popen, log: Path) -> float:
    """Seconds from SIGTERM to the main process (django-q2's Cluster) to its exit."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"still running 60 s after SIGTERM:\n{log.read_text()[-3000:]}")
    return time.monotonic() - began


def started(log_dir: Path) -> set[str]:
    return {path.name.removeprefix("started-") for path in log_dir.glob("started-*")}


def finished(log_dir: Path) -> Counter:
    done = log_dir / "done.log"
    return Counter(done.read_text().split()) if done.exists() else Counter()


def test_the_cluster_stops_in_seconds_and_gives_fetched_tasks_back(any_broker, tmp_path):
    broker, env = any_broker
    log_dir, log = tmp_path / "tasks", tmp_path / "cluster.log"
    log_dir.mkdir()
    names = queue(broker, log_dir, count=24, seconds=1.0)  # 12 s of work for two workers

    cluster = start_cluster(env, log)
    wait_for(lambda: len(started(log_dir)) >= 2, 60, cluster, log)
    stopped_in = sigterm_and_time(cluster, log)

    # django-q2's own stop ran every fetched task first: 10 s and more here.
    assert stopped_in < GRACE, log.read_text()[-3000:]
    ran = started(log_dir)
    assert set(finished(log_dir)) == ran  # what had started was let finish
    assert broker.queue_size() == len(names) - len(ran), log.read_text()[-3000:]

    restarted = start_cluster(env, log)
    wait_for(lambda: sum(finished(log_dir).values()) >= len(names), 60, restarted, log)
    sigterm_and_time(restarted, log)
    assert finished(log_dir) == Counter(names)  # each ran once, none was lost


def test_a_task_outlasting_the_grace_is_stopped_and_stays_queued(orm_broker, tmp_path):
    # (Redis hands a task out once: one stopped while running is not retried; ours are all
    # re-run by their schedules, docs/operations.md.)
    broker, env = orm_broker
    log_dir, log = tmp_path / "tasks", tmp_path / "cluster.log"
    log_dir.mkdir()
    queue(broker, log_dir, count=1, seconds=120)

    cluster = start_cluster(env, log)
    wait_for(lambda: started(log_dir), 60, cluster, log)
    stopped_in = sigterm_and_time(cluster, log)

    assert stopped_in < GRACE + 3, log.read_text()[-3000:]
    assert not finished(log_dir)
    assert broker.queue_size() == 0  # locked until `retry`, when the ORM broker hands it out
    from django_q.models import OrmQ

    assert OrmQ.objects.count() == 1
