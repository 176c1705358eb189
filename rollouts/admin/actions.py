"""The two-step admin action: show what will change and ask for a reason, then act."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

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
