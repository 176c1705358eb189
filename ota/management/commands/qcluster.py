"""`manage.py qcluster`: django-q2's command, stopping within seconds of SIGTERM with every
queued task kept (ota/task_cluster.py). It takes the place of django-q2's own because `ota`
comes before `django_q` in INSTALLED_APPS."""

from django_q import cluster
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from ota.task_cluster import GracefulSentinel


class Command(DjangoQClusterCommand):
    help = (
        "Starts the django-q2 cluster. On SIGTERM or SIGINT it gives fetched tasks back to the "
        "broker and stops within OTA_Q_STOP_GRACE_SECONDS (plus a few seconds)."
    )

    def handle(self, *args, **options):
        # django_q.cluster.Cluster.start looks its sentinel class up by this name.
        cluster.Sentinel = GracefulSentinel
        super().handle(*args, **options)
