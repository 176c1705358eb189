"""Cohorts in the admin: make them, see who is in, and keep a static list of vehicles."""

import re

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ota.admin import ReadOnlyAdmin
from ota.errors import DomainError
from rollouts import selectors
from rollouts.admin.actions import (
    comma_names,
    confirm_then,
    confirmation_page,
    regions_field,
    service_form_page,
)
from rollouts.cohorts import describe_installed
from rollouts.models import Cohort, CohortKind
from rollouts.models.cohorts import validate_cohort_name
from rollouts.services import cohorts as cohort_services

PREVIEW = 20


def _vins(text: str) -> list[str]:
    return [vin for vin in re.split(r"[\s,;]+", text) if vin]  # the service normalises


class CohortDefinitionForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    models = forms.CharField(required=False, help_text="Filter: comma-separated models.")
    regions = regions_field("Filter: none ticked means any region.")
    hardware_ids = forms.CharField(
        required=False,
        help_text="Filter: the vehicle has an ECU of one of these (comma-separated).",
    )
    installed = forms.JSONField(
        required=False,
        initial=list,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text='Filter on installed software, every rule must hold: [{"hardware_id": '
        '"hu-gen7", "versions": ["7.2.0"], "min_counter": 700, "max_counter": 719}]',
    )


class CohortCreateForm(CohortDefinitionForm):
    name = forms.CharField(max_length=64, validators=[validate_cohort_name])
    kind = forms.ChoiceField(choices=CohortKind.choices)
    field_order = ["name", "kind"]


class VinsForm(forms.Form):
    vins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 40}),
        help_text="VINs, one per line (or separated by commas or spaces); at most 10,000.",
    )


def _parts(data: dict) -> dict:
    return {
        "models": comma_names(data["models"]),
        "regions": list(data["regions"]),
        "hardware_ids": comma_names(data["hardware_ids"]),
        "installed": data["installed"] or [],
    }


@admin.register(Cohort)
class CohortAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "description", "created_by", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "description"]
    fields = [
        "name",
        "kind",
        "description",
        "definition",
        "size",
        "members_preview",
        "used_by",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    actions = ["add_vehicles", "remove_vehicles"]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("create/", wrap(self.create_view), name="rollouts_cohort_create"),
            path("<int:pk>/edit/", wrap(self.edit_view), name="rollouts_cohort_edit"),
            *super().get_urls(),
        ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("rollouts.delete_cohort")

    def delete_model(self, request, obj):
        cohort_services.cohort_delete(cohort=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for cohort in queryset:
            try:
                cohort_services.cohort_delete(cohort=cohort, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{cohort}: {exc.message}", messages.ERROR)

    @admin.display(description="filter")
    def definition(self, cohort: Cohort) -> str:
        if cohort.kind == CohortKind.STATIC:
            return "A static list of vehicles."
        parts = {
            "models": cohort.model_names,
            "regions": cohort.regions,
            "hardware ids": cohort.hardware_ids,
            "installed": [describe_installed(rule) for rule in cohort.installed],
        }
        return format_html_join(
            "",
            "<div><strong>{}</strong>: {}</div>",
            ((k, ", ".join(v)) for k, v in parts.items() if v),
        )

    @admin.display(description="vehicles now")
    def size(self, cohort: Cohort) -> int:
        return selectors.cohort_vehicles(cohort=cohort).count()

    @admin.display(description=f"first {PREVIEW} vehicles")
    def members_preview(self, cohort: Cohort) -> str:
        vehicles = selectors.cohort_vehicles(cohort=cohort).order_by("vin")[:PREVIEW]
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                ((reverse("admin:rollouts_vehicle_change", args=[v.pk]), v.vin) for v in vehicles),
            )
            or "—"
        )

    @admin.display(description="rollouts")
    def used_by(self, cohort: Cohort) -> str:
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a> ({})',
                (
                    (reverse("admin:rollouts_rollout_change", args=[r.pk]), r, r.status)
                    for r in cohort.rollouts.select_related("release", "channel")
                ),
            )
            or "—"
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"edit_url": reverse("admin:rollouts_cohort_edit", args=[object_id])}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def create_view(self, request: HttpRequest):
        def create(data):
            return cohort_services.cohort_create(
                spec=cohort_services.CohortSpec(
                    name=data["name"],
                    kind=data["kind"],
                    description=data["description"],
                    **{k: tuple(v) for k, v in _parts(data).items()},
                ),
                actor=request.user,
            )

        return service_form_page(
            self, request, CohortCreateForm, "rollouts.add_cohort", "Create a cohort", create
        )

    def edit_view(self, request: HttpRequest, pk: int):
        cohort = get_object_or_404(Cohort, pk=pk)

        def save(data):
            parts = _parts(data) if cohort.kind == CohortKind.FILTER else {}
            return cohort_services.cohort_update(
                cohort=cohort, actor=request.user, description=data["description"], **parts
            )

        initial = {
            "description": cohort.description,
            "models": ", ".join(cohort.model_names),
            "regions": cohort.regions,
            "hardware_ids": ", ".join(cohort.hardware_ids),
            "installed": cohort.installed,
        }
        return service_form_page(
            self,
            request,
            CohortDefinitionForm,
            "rollouts.change_cohort",
            f"Change {cohort}",
            save,
            initial=initial,
            submit="Save",
        )

    def has_members_permission(self, request) -> bool:
        return request.user.has_perm("rollouts.change_cohort")

    @admin.action(
        description="Add vehicles (by VIN) to the selected static cohort", permissions=["members"]
    )
    def add_vehicles(self, request, queryset):
        return self._change_members(request, queryset, cohort_services.cohort_members_add, "add")

    @admin.action(
        description="Remove vehicles (by VIN) from the selected static cohort",
        permissions=["members"],
    )
    def remove_vehicles(self, request, queryset):
        return self._change_members(
            request, queryset, cohort_services.cohort_members_remove, "remove"
        )

    def _change_members(self, request, queryset, change, verb: str):
        def perform(cohort, data):
            result = change(cohort=cohort, vins=_vins(data["vins"]), actor=request.user)
            done = "added" if verb == "add" else "removed"
            return f"{result.changed} {done}, {result.unchanged} unchanged"

        return confirm_then(
            self,
            request,
            queryset,
            action=f"{verb}_vehicles",
            title=f"{verb.capitalize()} vehicles",
            explanation="Paste VINs. Every VIN must be a provisioned vehicle, or nothing changes.",
            perform=perform,
            form_class=VinsForm,
        )


class CohortChoiceForm(forms.Form):
    cohort = forms.ModelChoiceField(
        queryset=Cohort.objects.filter(kind=CohortKind.STATIC), to_field_name="name"
    )


def add_to_cohort(modeladmin, request, queryset):
    """For the vehicle list: filter the fleet, tick, add the vehicles to a static cohort."""
    vins = list(queryset.values_list("vin", flat=True))  # over the limit: the service says so
    form = CohortChoiceForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        try:
            result = cohort_services.cohort_members_add(
                cohort=form.cleaned_data["cohort"], vins=vins, actor=request.user
            )
        except DomainError as exc:
            modeladmin.message_user(request, f"{exc.message} {exc.detail}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                format_html(
                    "{} added to {}, {} already there.",
                    result.changed,
                    form.cleaned_data["cohort"],
                    result.unchanged,
                ),
                messages.SUCCESS,
            )
        return None
    return confirmation_page(
        modeladmin,
        request,
        queryset,
        action="add_to_cohort",
        title="Add vehicles to a static cohort",
        explanation=f"{len(vins)} vehicles.",
        form=form,
    )
