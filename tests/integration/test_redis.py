"""Redis as production runs it: the django-q2 broker between web and workers, and the cache
that holds per-vehicle rate limits. Skipped without a Redis only outside CI."""

import os
from multiprocessing import Queue, Value

import pytest
import redis
from django.core.cache import caches

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_url(worker_id):
    # A Redis database of its own (one per xdist worker), emptied around each test.
    number = 15 - (int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    url = f"redis://127.0.0.1:6379/{number}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        message = "no Redis on 127.0.0.1:6379 (CI starts one)"
        if os.environ.get("CI") or os.environ.get("OTA_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    client.flushdb()
    yield url
    client.flushdb()


def test_a_scheduled_evaluation_travels_through_redis_to_a_worker(
    redis_url, monkeypatch, publish, ship
):
    from django_q.brokers import get_broker
    from django_q.conf import Conf
    from django_q.models import Task
    from django_q.monitor import save_task
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task
    from django_q.worker import worker

    from rollouts.models import Evaluation

    bundle, _ = publish(hardware_id="hu-gen7")
    _, rollout_id = ship([bundle])
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    # A worker process closes its database connections between tasks; here it runs inside
    # the test's transaction, which must stay open.
    monkeypatch.setattr("django_q.worker.close_old_django_connections", lambda: None)
    monkeypatch.setattr("django_q.monitor.close_old_django_connections", lambda: None)
    broker = get_broker()
    assert type(broker).__name__ == "Redis"

    task_id = async_task("rollouts.tasks.evaluate_rollouts", broker=broker)
    assert broker.queue_size() == 1
    # What the cluster's pusher and worker do, in this process: pull, unpack, run, save.
    [(ack, package)] = broker.dequeue()
    tasks, results = Queue(), Queue()
    tasks.put(SignedPackage.loads(package))
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    save_task(results.get(timeout=30), broker)
    broker.acknowledge(ack)

    assert Task.objects.get(id=task_id).success
    assert broker.queue_size() == 0
    assert Evaluation.objects.filter(rollout_id=rollout_id).exists()


def test_rate_limits_are_counted_in_the_shared_redis_cache(redis_url, car, settings):
    vehicle = car()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    settings.OTA_VEHICLE_RATE = "2/min"

    answers = [vehicle.put_manifest().status for _ in range(3)]

    assert answers == [200, 200, 429]
    stored = redis.Redis.from_url(redis_url).scan_iter(match=":1:throttle:vehicle:*")
    assert list(stored)
    assert caches["default"].__class__.__name__ == "RedisCache"
