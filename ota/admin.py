"""What every admin page of the project shares: read-only records, and "History" that opens
the audit trail (services write AuditEvent rows, never Django's LogEntry)."""

from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse


class AuditHistory:
    """A record's "History" button lists its audit events."""

    def history_view(self, request, object_id, extra_context=None):
        query = urlencode({"target_type": self.model._meta.label_lower, "target_id": object_id})
        return HttpResponseRedirect(f"{reverse('admin:audit_auditevent_changelist')}?{query}")


class ReadOnlyAdmin(AuditHistory, admin.ModelAdmin):
    """Records written by services only: shown, never edited or deleted here."""

    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
