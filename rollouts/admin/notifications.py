"""Webhook endpoints (the secret is shown once, at creation) and their delivery log."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from ota.admin import ReadOnlyAdmin
from rollouts.models import WebhookDelivery, WebhookEndpoint
from rollouts.models.notifications import EVENTS
from rollouts.services.notifications import webhook_create


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENTS], initial=EVENTS, widget=forms.CheckboxSelectMultiple
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "url", "events", "active", "created_at"]
    fields = ["name", "url", "events", "active", "created_at"]
    readonly_fields = fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.create_view)
        return [path("create/", view, name="rollouts_webhookendpoint_create"), *super().get_urls()]

    def create_view(self, request: HttpRequest):
        if not request.user.has_perm("rollouts.add_webhookendpoint"):
            raise PermissionDenied
        form = WebhookForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Add a webhook",
            "opts": self.model._meta,
        }
        if request.method == "POST" and form.is_valid():
            endpoint, secret = webhook_create(
                name=form.cleaned_data["name"],
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
            response = TemplateResponse(
                request,
                "admin/rollouts/webhookendpoint/secret.html",
                {**context, "endpoint": endpoint, "secret": secret},
            )
            response["Cache-Control"] = "no-store"
            return response
        return TemplateResponse(request, "admin/service_form.html", context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["endpoint"]
