"""Admin pages for markets: per-market approvals with their assessments, the RXSWIN register,
each vehicle's RXSWIN, the evidence records, and signed evidence exports."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.html import format_html, format_html_join

from compliance import rxswin
from compliance.models import (
    EvidenceExport,
    EvidenceRecord,
    ExportFormat,
    ExportKey,
    ExportScope,
    ExportStatus,
    ImpactAssessment,
    MarketApproval,
    RxswinEntry,
    VehicleRxswin,
)
from compliance.selectors import current_rxswins, vehicle_types
from compliance.services.approvals import market_approve, rxswin_register
from compliance.services.exports import evidence_export_request
from compliance.services.keys import public_key_pem, verify_command
from ota.admin import MarketFilter, ReadOnlyAdmin
from rollouts.admin.actions import service_form_page
from rollouts.models import Release
from rollouts.vin import is_valid_vin, normalize_vin


class AssessmentInline(admin.TabularInline):
    model = ImpactAssessment
    fields = ["model", "affects_type_approval", "rationale", "rxswin_before", "new_rxswin"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def approval_form(release: Release, market: str) -> type[forms.Form]:
    """One row of fields per vehicle type the release reaches in the market."""
    types = sorted(vehicle_types(release=release, market=market))
    before = current_rxswins(market=market, models=types)
    fields: dict[str, forms.Field] = {}
    for model in types:
        now = before.get(model) or "none registered"
        fields[f"affects__{model}"] = forms.BooleanField(
            required=False,
            label=f"{model}: affects type approval",
            help_text=f"RXSWIN now: {now}.",
        )
        fields[f"rationale__{model}"] = forms.CharField(
            label=f"{model}: rationale",
            max_length=rxswin.MAX_RATIONALE,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
        )
        fields[f"new_rxswin__{model}"] = forms.CharField(
            label=f"{model}: new RXSWIN",
            required=False,
            max_length=64,
            strip=False,  # as the API: spaces around an RXSWIN are refused, not trimmed
            help_text="Only when type approval is affected.",
        )
    fields["note"] = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2, "cols": 70})
    )
    form = type("MarketApprovalForm", (forms.Form,), fields)
    form.vehicle_types = types
    return form


def assessments_from(data: dict, types: list[str]) -> list[rxswin.Assessment]:
    return [
        rxswin.Assessment(
            model=model,
            affects_type_approval=data[f"affects__{model}"],
            rationale=data[f"rationale__{model}"],
            new_rxswin=data[f"new_rxswin__{model}"],
        )
        for model in types
    ]


@admin.register(MarketApproval)
class MarketApprovalAdmin(ReadOnlyAdmin):
    list_display = ["release", "market", "approved_by", "approved_at", "affects"]
    list_filter = ["market"]
    search_fields = ["release__version"]
    list_select_related = ["release", "approved_by"]
    fields = ["release", "market", "approved_by", "approved_at", "note"]
    readonly_fields = fields
    inlines = [AssessmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assessments")

    @admin.display(description="type approval affected for")
    def affects(self, approval: MarketApproval) -> str:
        hit = [a.model for a in approval.assessments.all() if a.affects_type_approval]
        return ", ".join(hit) or "no vehicle type"

    def get_urls(self):
        view = self.admin_site.admin_view(self.approve_view)
        return [
            path(
                "approve/<int:release_id>/<str:market>/",
                view,
                name="compliance_marketapproval_approve",
            ),
            *super().get_urls(),
        ]

    def approve_view(self, request: HttpRequest, release_id: int, market: str):
        release = get_object_or_404(Release, pk=release_id)
        form_class = approval_form(release, market[:16])

        def approve(data):
            return market_approve(
                release=release,
                market=market[:16],
                assessments=assessments_from(data, form_class.vehicle_types),
                actor=request.user,
                note=data["note"],
            )

        return service_form_page(
            self,
            request,
            form_class,
            "compliance.approve_market",
            f"Approve {release} for {market[:16]}: type-approval impact",
            approve,
            submit="Approve for this market",
        )


class RxswinForm(forms.Form):
    model = forms.CharField(label="Vehicle type", max_length=64)
    market = forms.ChoiceField(choices=[])
    rxswin = forms.CharField(label="RXSWIN", max_length=64, strip=False)
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea({"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["market"].choices = [(m, m) for m in settings.OTA_REGIONS]


@admin.register(RxswinEntry)
class RxswinEntryAdmin(ReadOnlyAdmin):
    list_display = ["market", "model", "rxswin", "release", "recorded_by", "recorded_at"]
    list_filter = ["market", "model"]
    search_fields = ["rxswin", "model"]
    list_select_related = ["release", "recorded_by"]

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("compliance.add_rxswinentry")

    def add_view(self, request, form_url="", extra_context=None):
        def register(data):
            return rxswin_register(
                model=data["model"],
                market=data["market"],
                value=data["rxswin"],
                actor=request.user,
                note=data["note"],
            )

        return service_form_page(
            self,
            request,
            RxswinForm,
            "compliance.add_rxswinentry",
            "Register an RXSWIN",
            register,
            submit="Register",
        )


@admin.register(VehicleRxswin)
class VehicleRxswinAdmin(ReadOnlyAdmin):
    list_display = ["vehicle", "rxswin", "release", "since"]
    search_fields = ["vehicle__vin", "rxswin"]
    list_select_related = ["vehicle", "release"]


@admin.register(EvidenceRecord)
class EvidenceRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "vin", "model", "market", "kind", "reason", "release", "rxswin_change"]
    list_filter = ["kind", ("market", MarketFilter)]
    search_fields = ["release__version"]
    list_select_related = ["release"]

    def get_search_results(self, request, queryset, search_term):
        # A VIN in either case is matched as stored (upper-case) on the column, which its
        # index serves; a "=vin" search would compare UPPER() of every record.
        vin = normalize_vin(search_term)
        if is_valid_vin(vin):
            return queryset.filter(vin=vin), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="RXSWIN")
    def rxswin_change(self, record: EvidenceRecord) -> str:
        if record.rxswin_before == record.rxswin_after:
            return record.rxswin_after
        return f"{record.rxswin_before or '—'} → {record.rxswin_after}"


class ExportForm(forms.Form):
    scope = forms.ChoiceField(choices=ExportScope.choices)
    vin = forms.CharField(label="VIN", max_length=17, required=False)
    release = forms.ModelChoiceField(Release.objects.all(), required=False)
    market = forms.ChoiceField(choices=[], required=False)
    period_from = forms.DateTimeField(label="From", required=False, help_text="A market's period.")
    period_to = forms.DateTimeField(label="To (not included)", required=False)
    format = forms.ChoiceField(choices=ExportFormat.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["market"].choices = [("", "—"), *((m, m) for m in settings.OTA_REGIONS)]


@admin.register(EvidenceExport)
class EvidenceExportAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "scope", "format", "status", "progress", "requested_by", "files"]
    list_filter = ["status", "scope"]
    list_select_related = ["requested_by", "key", "release"]
    fields = [
        "scope",
        "vin",
        "release",
        "market",
        "period_from",
        "period_to",
        "format",
        "status",
        "progress",
        "sha256",
        "key",
        "files",
        "verify",
        "failure",
        "requested_by",
        "requested_at",
        "finished_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("compliance.add_evidenceexport")

    @admin.display(description="rows")
    def progress(self, export: EvidenceExport) -> str:
        if export.status == ExportStatus.BUILDING:
            share = export.rows / export.expected_rows if export.expected_rows else 0
            return f"{export.rows:,} of {export.expected_rows:,} ({share:.0%})"
        return f"{export.rows:,}"

    @admin.display(description="download")
    def files(self, export: EvidenceExport) -> str:
        if export.status != ExportStatus.READY:
            return "—"
        base = f"/api/v1/manage/evidence/exports/{export.pk}"
        links = [
            (f"{base}/file", "export"),
            (f"{base}/sha256", "SHA-256"),
            (f"{base}/signature", "signature"),
            (f"/api/v1/export-keys/{export.key.keyid}.pem", "public key"),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    @admin.display(description="verify with")
    def verify(self, export: EvidenceExport) -> str:
        if export.status != ExportStatus.READY:
            return "—"
        return format_html("<code>{}</code>", verify_command(export.key, export.file_name))

    def add_view(self, request, form_url="", extra_context=None):
        def request_export(data):
            return evidence_export_request(
                scope=data["scope"],
                format=data["format"],
                actor=request.user,
                vin=data["vin"],
                release_id=data["release"].pk if data["release"] else None,
                market=data["market"],
                period_from=data["period_from"],
                period_to=data["period_to"],
            )

        return service_form_page(
            self,
            request,
            ExportForm,
            "compliance.add_evidenceexport",
            "Export evidence",
            request_export,
            submit="Export",
        )


@admin.register(ExportKey)
class ExportKeyAdmin(ReadOnlyAdmin):
    list_display = ["keyid", "purpose", "backend", "created_at", "retired_at"]
    list_filter = ["purpose"]
    fields = ["keyid", "purpose", "backend", "pem", "created_at", "retired_at"]
    readonly_fields = fields

    @admin.display(description="public key (PEM)")
    def pem(self, key: ExportKey) -> str:
        return format_html("<pre>{}</pre>", public_key_pem(key))
