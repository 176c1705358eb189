"""The fleet in the admin: find vehicles, inspect ECUs, revoke and rotate tokens."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ota.errors import DomainError
from rollouts.models import Channel, Ecu, Vehicle, VehicleToken
from rollouts.services.vehicles import vehicle_token_revoke, vehicle_token_rotate

MAX_ROTATIONS_PER_ACTION = 100


class EcuInline(admin.TabularInline):
    model = Ecu
    fields = ["serial", "hardware_id", "primary", "keyid"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class VehicleTokenInline(admin.TabularInline):
    """Token history: only the public id is ever shown; the secret was shown once at issue."""

    model = VehicleToken
    fields = ["public_id", "created_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "tokens (the secret is never shown again)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=True, max_length=1000
    )


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = [
        "vin",
        "model",
        "region",
        "channel",
        "token_active",
        "last_seen_at",
        "created_at",
    ]
    list_filter = ["region", "model", "channel"]
    list_select_related = ["channel"]
    search_fields = ["vin"]
    search_help_text = "VIN, or its beginning"
    show_full_result_count = False
    fields = ["vin", "model", "region", "channel", "created_at", "last_seen_at"]
    readonly_fields = fields
    inlines = [EcuInline, VehicleTokenInline]
    actions = ["revoke_tokens", "rotate_tokens"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vehicle]:
        active = VehicleToken.objects.filter(vehicle=OuterRef("pk"), revoked_at__isnull=True)
        return super().get_queryset(request).annotate(has_active_token=Exists(active))

    def get_search_results(self, request, queryset, search_term):
        # VINs are stored upper-case: a prefix match on the column itself can use its index.
        term = search_term.strip().upper()
        if not term:
            return queryset, False
        return queryset.filter(vin__startswith=term), False

    @admin.display(boolean=True, description="token", ordering="has_active_token")
    def token_active(self, obj: Vehicle) -> bool:
        return obj.has_active_token

    # Provisioning issues a token that is shown once, so it goes through the API or the
    # provision_vehicles command, never through a plain admin form.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # Nothing on a vehicle is hand-editable; channel changes go through consent (forever beta).
    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rollouts.change_vehicletoken")

    @admin.action(description="Revoke tokens of selected vehicles", permissions=["token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Vehicle]):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            revoked = 0
            for vehicle in queryset:
                revoked += vehicle_token_revoke(
                    vehicle=vehicle, actor=request.user, reason=form.cleaned_data["reason"]
                )
            self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
            return None
        return self._confirm(request, queryset, form, "revoke_tokens", "Revoke tokens")

    @admin.action(description="Rotate tokens of selected vehicles", permissions=["token"])
    def rotate_tokens(self, request: HttpRequest, queryset: QuerySet[Vehicle]):
        if queryset.count() > MAX_ROTATIONS_PER_ACTION:
            self.message_user(
                request,
                f"Rotate at most {MAX_ROTATIONS_PER_ACTION} vehicles at once.",
                messages.ERROR,
            )
            return None
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            issued = []
            for vehicle in queryset:
                try:
                    token = vehicle_token_rotate(
                        vehicle=vehicle, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except DomainError as exc:
                    self.message_user(request, f"{vehicle.vin}: {exc.message}", messages.ERROR)
                    continue
                issued.append((vehicle.vin, token))
            response = TemplateResponse(
                request,
                "admin/rollouts/vehicle/new_tokens.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "New tokens",
                    "issued": issued,
                    "opts": self.model._meta,
                },
            )
            response["Cache-Control"] = "no-store"
            return response
        return self._confirm(request, queryset, form, "rotate_tokens", "Rotate tokens")

    def _confirm(self, request, queryset, form, action: str, title: str) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/rollouts/vehicle/confirm_token_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "vehicles": queryset,
                "form": form,
                "action": action,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "position", "self_service"]
    readonly_fields = ["name", "position", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
