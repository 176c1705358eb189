from django.contrib import admin

from audit.models import AuditEvent
from ota.admin import EstimatedCountPaginator


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_repr", "reason"]
    # By date with Django's fixed ranges (today, past 7 days, this month, this year): a date
    # hierarchy would read the distinct years, months and days of the whole trail per page.
    list_filter = [("at", admin.DateFieldListFilter), "action", "target_type"]
    search_fields = ["target_repr", "target_id", "actor_label"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    # The trail is append-only: nobody edits or deletes it through the admin.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
