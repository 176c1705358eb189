from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services only: shown, never edited or deleted here."""

    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
