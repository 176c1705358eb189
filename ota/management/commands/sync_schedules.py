"""Upsert the django-q2 schedules every app declares in its `schedules.SCHEDULES`."""

from importlib import import_module

from django.apps import apps
from django.core.management.base import BaseCommand
from django_q.models import Schedule


def declared_schedules() -> list[dict]:
    declared = []
    for app in apps.get_app_configs():
        try:
            module = import_module(f"{app.name}.schedules")
        except ModuleNotFoundError:
            continue
        declared.extend(getattr(module, "SCHEDULES", []))
    return declared


class Command(BaseCommand):
    help = "Create or update the periodic jobs declared in code (by name); remove none."

    def handle(self, *args, **options):
        for entry in declared_schedules():
            fields = {k: v for k, v in entry.items() if k != "name"}
            _, created = Schedule.objects.update_or_create(name=entry["name"], defaults=fields)
            self.stdout.write(f"{'created' if created else 'updated'} schedule {entry['name']}")
