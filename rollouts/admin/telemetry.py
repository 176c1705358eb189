"""What vehicles reported: manifests, installed-image history, events, health. Read-only."""

from django.contrib import admin

from ota.admin import ReadOnlyAdmin
from rollouts.models import (
    HealthWindow,
    InstalledChange,
    InstallEvent,
    ManifestProblem,
)


@admin.register(InstalledChange)
class InstalledChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "vehicle", "ecu_serial", "from_path", "to_path", "to_bundle"]
    search_fields = ["vehicle__vin", "to_path"]
    list_select_related = ["vehicle", "to_bundle"]


@admin.register(ManifestProblem)
class ManifestProblemAdmin(ReadOnlyAdmin):
    list_display = ["at", "vehicle", "ecu_serial", "code", "report_counter"]
    list_filter = ["code"]
    search_fields = ["vehicle__vin"]
    list_select_related = ["vehicle"]


@admin.register(InstallEvent)
class InstallEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "vehicle", "type", "ecu_serial", "error_code", "assignment"]
    list_filter = ["type"]
    search_fields = ["vehicle__vin", "error_code"]
    # The assignment's name reads its vehicle, rollout, release and channel: one join each.
    list_select_related = [
        "vehicle",
        "assignment__vehicle",
        "assignment__rollout__release",
        "assignment__rollout__channel",
    ]


@admin.register(HealthWindow)
class HealthWindowAdmin(ReadOnlyAdmin):
    list_display = ["start", "end", "vehicle", "driving_seconds", "crashes", "reboots", "release"]
    search_fields = ["vehicle__vin"]
    list_select_related = ["vehicle", "release"]
