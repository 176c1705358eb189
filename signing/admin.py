"""Bundles, keys and signed metadata in the admin. Nothing here shows a private key."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from ota.admin import ReadOnlyAdmin
from ota.errors import DomainError
from signing.models import Bundle, BundleCopy, Delta, Repository, RoleMetadata, SigningKey
from signing.services import bundles

ADMIN_UPLOAD_LIMIT = 512 * 1024 * 1024  # larger files: the API, upload_bundle, or direct to S3


class BundleUploadForm(forms.Form):
    file = forms.FileField()
    path = forms.CharField(max_length=200, help_text="TUF target path, e.g. hu-gen7/hu-7.2.0.bin")
    hardware_id = forms.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)
    version = forms.CharField(max_length=64)
    release_counter = forms.IntegerField(min_value=0, max_value=2**31 - 1)

    def clean_path(self):
        from signing.models import validate_target_path

        value = self.cleaned_data["path"]
        validate_target_path(value)
        return value


@admin.register(Bundle)
class BundleAdmin(ReadOnlyAdmin):
    list_display = [
        "path",
        "hardware_id",
        "version",
        "release_counter",
        "status",
        "length",
        "created_at",
        "published_at",
    ]
    list_filter = ["status", "hardware_id"]
    search_fields = ["path"]
    show_full_result_count = False
    readonly_fields = [
        "path",
        "hardware_id",
        "version",
        "release_counter",
        "status",
        "failure",
        "length",
        "sha256",
        "sha512",
        "blob_name",
        "regions",
        "created_by",
        "created_at",
        "published_by",
        "published_at",
    ]
    actions = ["publish"]

    def get_urls(self):
        upload = self.admin_site.admin_view(self.upload_view)
        return [path("upload/", upload, name="signing_bundle_upload"), *super().get_urls()]

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("signing.publish_bundle")

    def upload_view(self, request: HttpRequest):
        if not request.user.has_perm("signing.add_bundle"):
            raise PermissionDenied
        form = BundleUploadForm()
        if request.method == "POST":
            if int(request.META.get("CONTENT_LENGTH") or 0) > ADMIN_UPLOAD_LIMIT:
                messages.error(request, "Files this large go through the API or upload_bundle.")
                return HttpResponseRedirect(request.path)
            request.upload_handlers = [TemporaryFileUploadHandler(request)]
            form = BundleUploadForm(request.POST, request.FILES)
            if form.is_valid():
                data = form.cleaned_data
                spec = bundles.BundleSpec(
                    path=data["path"],
                    hardware_id=data["hardware_id"],
                    version=data["version"],
                    release_counter=data["release_counter"],
                )
                upload = data["file"]
                try:
                    bundle = bundles.bundle_ingest_file(
                        spec=spec, stream=upload.file, actor=request.user
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"Uploaded {bundle.path} ({bundle.length} bytes).")
                    return HttpResponseRedirect(
                        reverse("admin:signing_bundle_change", args=[bundle.pk])
                    )
        return TemplateResponse(
            request,
            "admin/signing/bundle/upload.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "title": "Upload a bundle",
                "opts": self.model._meta,
                # With JavaScript the page uploads through the API: presigned, or streamed.
                "direct": bundles.direct_upload_available(),
                "limit": settings.OTA_MAX_BUNDLE_BYTES,
            },
        )

    @admin.action(
        description="Publish selected bundles to the Image repository", permissions=["publish"]
    )
    def publish(self, request: HttpRequest, queryset: QuerySet[Bundle]):
        if "confirm" not in request.POST:
            return TemplateResponse(
                request,
                "admin/signing/bundle/confirm_publish.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Publish bundles",
                    "bundles": queryset,
                    "opts": self.model._meta,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        for bundle in queryset:
            try:
                bundle, version = bundles.bundle_publish(bundle=bundle, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{bundle.path}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{bundle.path} is in Image targets version {version}.",
                    messages.SUCCESS,
                )
        return None


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["repo", "role", "short_keyid", "scheme", "backend", "created_at", "retired_at"]
    list_filter = ["repo", "role", "backend"]
    fields = [
        "repo",
        "role",
        "keyid",
        "public_key",
        "backend",
        "kms_key_id",
        "created_at",
        "retired_at",
    ]
    readonly_fields = fields

    @admin.display(description="key id")
    def short_keyid(self, obj: SigningKey) -> str:
        return obj.keyid[:16] + "…"

    @admin.display(description="scheme")
    def scheme(self, obj: SigningKey) -> str:
        return obj.public_key.get("scheme", "")


@admin.register(RoleMetadata)
class RoleMetadataAdmin(ReadOnlyAdmin):
    list_display = ["repo", "scope", "role", "version", "expires", "created_at"]
    list_filter = ["repo", "role"]
    search_fields = ["scope"]
    show_full_result_count = False
    fields = ["repo", "scope", "role", "version", "expires", "created_at", "content"]
    readonly_fields = fields

    @admin.display(description="signed metadata")
    def content(self, obj: RoleMetadata) -> str:
        pretty = json.dumps(json.loads(bytes(obj.raw)), indent=2, sort_keys=True)
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", pretty)


@admin.register(Repository)
class RepositoryAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_at"]


@admin.register(Delta)
class DeltaAdmin(ReadOnlyAdmin):
    """Deltas built from the images the fleet runs, with what each saves a car."""

    list_display = [
        "path",
        "source",
        "result",
        "status",
        "size",
        "saves_share",
        "build_seconds",
        "why_failed",
    ]
    list_filter = ["status", "result__hardware_id"]
    search_fields = ["path", "source__path", "result__path"]
    list_select_related = ["source", "result"]
    show_full_result_count = False
    readonly_fields = [
        "path",
        "source",
        "result",
        "format",
        "status",
        "failure",
        "length",
        "sha256",
        "sha512",
        "build_seconds",
        "created_at",
        "status_changed_at",
    ]
    fields = readonly_fields

    @admin.display(description="why it failed")
    def why_failed(self, delta: Delta) -> str:
        return delta.failure[:120] or "—"

    @admin.display(description="size")
    def size(self, delta: Delta) -> str:
        return "—" if delta.length is None else f"{delta.length:,} bytes"

    @admin.display(description="saves")
    def saves_share(self, delta: Delta) -> str:
        if delta.length is None or not delta.result.length:
            return "—"
        return format_html(
            '<progress max="100" value="{}"></progress> {} %',
            round(100 * delta.saves / delta.result.length),
            round(100 * delta.saves / delta.result.length),
        )


@admin.register(BundleCopy)
class BundleCopyAdmin(ReadOnlyAdmin):
    """Each bundle's copy in each market's own storage: a market's cars are offered a bundle
    once its copy there is verified."""

    list_display = ["bundle", "delta", "market", "status", "verified_at", "failure"]
    list_filter = ["status", "market"]
    search_fields = ["bundle__path", "delta__path"]
    list_select_related = ["bundle", "delta"]
    show_full_result_count = False
    readonly_fields = [
        "bundle",
        "market",
        "status",
        "failure",
        "created_at",
        "verified_at",
        "status_changed_at",
    ]
    fields = readonly_fields
