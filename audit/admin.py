from django.contrib import admin

from audit.models import AuditEvent
from ota.admin import EstimatedCountPaginator


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_repr", "reason"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_repr", "target_id", "actor_label"]
    date_hierarchy = "at"
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    # The trail is append-only: nobody edits or deletes it through the admin.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
