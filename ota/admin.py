"""What every admin page of the project shares: read-only records, "History" that opens the
audit trail (services write AuditEvent rows, never Django's LogEntry), and lists that stay
quick at fleet size (an estimated count, filters that read no column of the whole table)."""

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property


class AuditHistory:
    """A record's "History" button lists its audit events."""

    def history_view(self, request, object_id, extra_context=None):
        query = urlencode({"target_type": self.model._meta.label_lower, "target_id": object_id})
        return HttpResponseRedirect(f"{reverse('admin:audit_auditevent_changelist')}?{query}")


class EstimatedCountPaginator(Paginator):
    """A list's size counted exactly while small; past `EXACT_UP_TO` rows, on PostgreSQL, the
    planner's estimate (shown as "about N"): counting a million rows for a page of a hundred
    cost the page most of its time."""

    EXACT_UP_TO = 50_000

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql":
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            rows = int(plan[0]["Plan"]["Plan Rows"])
            if rows > self.EXACT_UP_TO:
                self.estimated = True
                return rows
        return super().count


class ReadOnlyAdmin(AuditHistory, admin.ModelAdmin):
    """Records written by services only: shown, never edited or deleted here."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MarketFilter(admin.FieldListFilter):
    """A market (region) column filtered by the deployment's markets (`OTA_REGIONS`): Django's
    own filter would read every distinct value of the column, a scan of the whole table."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.parameter = field_path
        super().__init__(field, request, params, model, model_admin, field_path)
        self.value = self.used_parameters.get(self.parameter)
        if isinstance(self.value, list):  # Django 5 keeps a parameter's values as a list
            self.value = self.value[-1]

    def expected_parameters(self) -> list[str]:
        return [self.parameter]

    def choices(self, changelist):
        yield {
            "selected": self.value is None,
            "query_string": changelist.get_query_string(remove=[self.parameter]),
            "display": "All",
        }
        for market in settings.OTA_REGIONS:
            yield {
                "selected": self.value == market,
                "query_string": changelist.get_query_string({self.parameter: market}),
                "display": market,
            }
