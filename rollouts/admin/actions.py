"""The two-step admin action: show what will change and ask for a reason, then act."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ota.errors import DomainError


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=True, max_length=2000
    )


def confirm_then(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    explanation: str,
    perform: Callable[[Any, str], str],
    form_class: type[forms.Form] = ReasonForm,
):
    """First call: a confirmation page. Confirmed with a valid form: `perform(obj, data)` for
    each object, each refusal shown as an error and the rest carried out."""
    form = form_class(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        for obj in queryset:
            try:
                done = perform(obj, form.cleaned_data)
            except DomainError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{obj}: {done}", messages.SUCCESS)
        return None
    return confirmation_page(
        modeladmin,
        request,
        queryset,
        action=action,
        title=title,
        explanation=explanation,
        form=form,
    )


def confirmation_page(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    explanation: str,
    form: forms.Form,
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "objects": queryset,
            "form": form,
            "action": action,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


def service_form_page(
    modeladmin,
    request,
    form_class,
    permission: str,
    title: str,
    save,
    *,
    initial=None,
    submit="Create",
):
    """A form whose save goes through a service; refusals are shown on the form."""
    if not request.user.has_perm(permission):
        raise PermissionDenied
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            obj = save(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, f"{exc.message} {exc.detail or ''}")
        else:
            messages.success(request, f"{submit}: {obj}.")
            opts = modeladmin.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            )
    return TemplateResponse(
        request,
        "admin/service_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "form": form,
            "title": title,
            "opts": modeladmin.model._meta,
            "submit": submit,
        },
    )


def comma_names(text: str) -> list[str]:
    """ "Aurora, Ember" → ["Aurora", "Ember"]: how the admin's forms take lists of names."""
    return [item.strip() for item in text.split(",") if item.strip()]


def regions_field(help_text: str = "None ticked: every region.") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=[(r, r) for r in settings.OTA_REGIONS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )
