"""The fleet in the admin: find vehicles, inspect ECUs, move channels, revoke and rotate tokens."""

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html

from ota.admin import AuditHistory, EstimatedCountPaginator, MarketFilter
from ota.errors import DomainError
from rollouts.admin.actions import ReasonForm, confirm_then, confirmation_page
from rollouts.admin.cohorts import add_to_cohort
from rollouts.models import ChangeVia, Channel, ChannelChange, Ecu, Vehicle, VehicleToken
from rollouts.services.channels import vehicle_channel_set
from rollouts.services.vehicles import vehicle_token_revoke, vehicle_token_rotate
from rollouts.vin import normalize_vin

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


class ChannelForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=Channel.objects.all(), to_field_name="name")
    consent_by = forms.CharField(
        max_length=150, required=False, help_text="Who consented (needed to join forever beta)."
    )
    terms_version = forms.CharField(max_length=40, required=False)


@admin.register(Vehicle)
class VehicleAdmin(AuditHistory, admin.ModelAdmin):
    list_display = [
        "vin",
        "model",
        "region",
        "channel",
        "token_active",
        "last_seen_at",
        "created_at",
    ]
    list_filter = [("region", MarketFilter), "model", "channel"]
    list_select_related = ["channel"]
    search_fields = ["vin"]
    search_help_text = "VIN, or its beginning"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = [
        "vin",
        "model",
        "region",
        "channel",
        "created_at",
        "last_seen_at",
        "report_counter",
        "last_manifest_at",
        "latest_manifest",
    ]
    readonly_fields = fields
    inlines = [EcuInline, VehicleTokenInline]
    actions = ["move_to_channel", "revoke_tokens", "rotate_tokens", "add_to_cohort"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vehicle]:
        active = VehicleToken.objects.filter(vehicle=OuterRef("pk"), revoked_at__isnull=True)
        return super().get_queryset(request).annotate(has_active_token=Exists(active))

    def get_search_results(self, request, queryset, search_term):
        # VINs are stored upper-case: a prefix match on the column itself can use its index.
        term = normalize_vin(search_term)
        if not term:
            return queryset, False
        return queryset.filter(vin__startswith=term), False

    @admin.display(description="latest manifest")
    def latest_manifest(self, obj: Vehicle) -> str:
        """The body exactly as the vehicle sent it, indented for reading."""
        if not obj.last_manifest:
            return "-"
        try:
            text = json.dumps(json.loads(obj.last_manifest), indent=2, sort_keys=True)
        except ValueError:
            text = obj.last_manifest
        return format_html('<pre style="max-height: 30em; overflow: auto">{}</pre>', text)

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

    def has_cohort_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rollouts.change_cohort")

    @admin.action(description="Add selected vehicles to a static cohort", permissions=["cohort"])
    def add_to_cohort(self, request: HttpRequest, queryset: QuerySet[Vehicle]):
        return add_to_cohort(self, request, queryset)

    def has_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rollouts.change_vehicletoken")

    @admin.action(description="Revoke tokens of selected vehicles", permissions=["token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Vehicle]):
        def revoke(vehicle: Vehicle, data: dict) -> str:
            revoked = vehicle_token_revoke(
                vehicle=vehicle, actor=request.user, reason=data["reason"]
            )
            return "token revoked" if revoked else "had no active token"

        return confirm_then(
            self,
            request,
            queryset,
            action="revoke_tokens",
            title="Revoke tokens",
            explanation="Revoked vehicles are refused (401) until a new token is issued.",
            perform=revoke,
        )

    @admin.action(description="Move selected vehicles to a channel", permissions=["change_channel"])
    def move_to_channel(self, request: HttpRequest, queryset: QuerySet[Vehicle]):
        def move(vehicle: Vehicle, data: dict) -> str:
            vehicle_channel_set(
                vehicle=vehicle,
                channel_name=data["channel"].name,
                via=ChangeVia.ADMIN,
                actor=request.user,
                consent_by=data["consent_by"],
                terms_version=data["terms_version"],
            )
            return f"now on {data['channel'].name}"

        return confirm_then(
            self,
            request,
            queryset,
            action="move_to_channel",
            title="Move to channel",
            explanation="Vehicles keep newer software they already have (no downgrade). Joining "
            "forever beta records the driver's consent: who gave it and the terms version.",
            perform=move,
            form_class=ChannelForm,
        )

    def has_change_channel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rollouts.change_vehicle")

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
        if not form.is_valid():
            return confirmation_page(
                self,
                request,
                queryset,
                action="rotate_tokens",
                title="Rotate tokens",
                explanation="The new tokens are shown once on the next page; the old ones stop "
                "working at once.",
                form=form,
            )
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


@admin.register(Channel)
class ChannelAdmin(AuditHistory, admin.ModelAdmin):
    list_display = ["name", "title", "position", "self_service"]
    readonly_fields = ["name", "position", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ChannelChange)
class ChannelChangeAdmin(admin.ModelAdmin):
    """The consent trail: append-only."""

    list_display = [
        "at",
        "vehicle",
        "from_channel",
        "to_channel",
        "via",
        "consent_by",
        "terms_version",
        "actor",
    ]
    list_filter = ["via", "to_channel"]
    search_fields = ["vehicle__vin"]
    list_select_related = ["vehicle", "from_channel", "to_channel", "actor"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
