from django.contrib import admin, messages

from accounts.models import UserToken
from accounts.services import user_token_revoke


@admin.register(UserToken)
class UserTokenAdmin(admin.ModelAdmin):
    """Only the first digits of a token are ever shown: its hash cannot be used, and the
    token itself was printed once when it was made (`manage.py drf_create_token`)."""

    list_display = [
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # a token is shown once, where it is made: manage.py drf_create_token

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request, queryset):
        revoked = sum(user_token_revoke(token=t, actor=request.user) for t in queryset)
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
