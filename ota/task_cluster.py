"""The django-q2 cluster, stopping within seconds of SIGTERM without losing a queued task.

django-q2's sentinel, told to stop, queues one stop pill per worker behind every task its
pusher fetched ahead (up to `queue_limit`) and waits until the workers have run them all:
minutes, until a process supervisor loses patience and kills it, and with the Redis broker
the fetched tasks die with it. This sentinel gives the fetched tasks back to the broker,
lets each worker finish the task in its hands for `OTA_Q_STOP_GRACE_SECONDS`, then stops
it. A task stopped that way is handed out again by the ORM broker after `retry` seconds; all
of ours may run twice (docs/operations.md).
"""

import logging
import time
from queue import Empty

from django.conf import settings
from django_q import cluster
from django_q.signing import SignedPackage
from django_q.status import Stat

logger = logging.getLogger("ota.tasks")

STOP = "STOP"  # django-q2's pill: a worker or monitor that takes it exits
POLL_SECONDS = 0.1
MONITOR_SECONDS = 5  # to store the results of the tasks that finished


class GracefulSentinel(cluster.Sentinel):
    def stop(self) -> None:
        deadline = time.monotonic() + settings.OTA_Q_STOP_GRACE_SECONDS
        self.event_out.set()  # the pusher fetches nothing more
        # A pusher blocked on a full queue exits once there is room: make room.
        given_back = self._give_back_fetched()
        while self.pusher.is_alive() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            given_back += self._give_back_fetched()
        if self.pusher.is_alive():
            self.pusher.terminate()
        given_back += self._give_back_fetched()
        logger.info("Stopping: %d fetched tasks given back to the broker.", given_back)

        for _ in self.pool:
            self.task_queue.put(STOP)
        self.task_queue.cancel_join_thread()  # pills nobody takes must not hold up the exit
        self._wait(lambda: any(p.is_alive() for p in self.pool), deadline)
        for process in self.pool:
            if process.is_alive():
                logger.warning(
                    "Stopping worker %s: its task outlasted the %s s grace; the broker "
                    "hands it out again.",
                    process.name,
                    settings.OTA_Q_STOP_GRACE_SECONDS,
                )
                process.terminate()
        self.pool = []

        self.result_queue.put(STOP)
        self.result_queue.cancel_join_thread()
        self._wait(self.monitor.is_alive, time.monotonic() + MONITOR_SECONDS)
        if self.monitor.is_alive():
            self.monitor.terminate()
        Stat(self).save()

    def _give_back_fetched(self) -> int:
        """Return the tasks fetched but not started to the broker: a copy enqueued first, the
        fetched one acknowledged after, so a crash between the two runs a task twice rather
        than never."""
        count = 0
        while True:
            try:
                task = self.task_queue.get_nowait()
            except Empty:
                return count
            if task == STOP:
                continue
            ack_id = task.pop("ack_id", None)
            task.pop("cluster", None)  # set by the pusher that fetched it
            self.broker.enqueue(SignedPackage.dumps(task))
            if ack_id is not None:
                self.broker.acknowledge(ack_id)
            count += 1

    @staticmethod
    def _wait(busy, deadline: float) -> None:
        while busy() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
