"""The console's pages: thin views over console/selectors.py, inside the admin site."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from console import selectors
from rollouts.models import Rollout, RolloutStatus
from rollouts.services.rollout_actions import rollout_actions_allowed

VIEW_ROLLOUT = "rollouts.view_rollout"


def dashboard_context(request: HttpRequest) -> dict:
    """What the landing page shows a person who may see rollouts; nothing for others."""
    if not request.user.has_perm(VIEW_ROLLOUT):
        return {}
    now = timezone.now()
    composition = selectors.fleet()
    cards = selectors.rollout_cards(composition=composition, now=now)
    return {
        "dashboard": True,
        "cards": cards,
        "waiting": selectors.waiting_for(request.user, cards),
        "halts": selectors.last_halts(),
        "installed": selectors.installed_software(composition),
        "fleet_counted_at": composition.counted_at,
        "now": now,
    }


def dashboard_live(request: HttpRequest) -> TemplateResponse:
    """The dashboard's figures alone, fetched by the open page every OTA_CONSOLE_REFRESH_SECONDS."""
    if not request.user.has_perm(VIEW_ROLLOUT):
        raise PermissionDenied
    return TemplateResponse(request, "console/dashboard_live.html", dashboard_context(request))


def rollout_charts(request: HttpRequest, rollout_id: int) -> TemplateResponse:
    """A rollout's charts alone, fetched by its open page every OTA_CONSOLE_REFRESH_SECONDS."""
    if not request.user.has_perm(VIEW_ROLLOUT):
        raise PermissionDenied
    rollout = get_object_or_404(Rollout.objects.select_related("release", "channel"), pk=rollout_id)
    return TemplateResponse(request, "console/rollout_charts.html", {"rollout": rollout})


@dataclass(frozen=True)
class Step:
    """The next step of a release on the pipeline page, as a button or a link."""

    label: str
    url: str = ""  # a link (creating a rollout, opening one)
    action: str = ""  # a rollout action, posted to the rollouts' admin like its own buttons
    rollout: Rollout | None = None
    note: str = ""


def next_step(row: selectors.PipelineRow, user) -> Step | None:
    cell = row.next_cell
    if cell is None:
        return None
    rollout = cell.rollout
    gate = (cell.gate or {}).get("why", "")
    if rollout is None or rollout.status == RolloutStatus.ABORTED:
        if not user.has_perm("rollouts.add_rollout"):
            return None
        query = urlencode({"release": row.release.pk, "channel": cell.channel.pk})
        return Step(
            f"Roll out to {cell.channel}",
            url=f"{reverse('admin:rollouts_rollout_create')}?{query}",
            note=f"Promotion gate closed: {gate}; starting it needs an approver's override."
            if gate
            else "",
        )
    for action in rollout_actions_allowed(rollout):
        if action.name in ("approve", "start") and user.has_perm(action.permission):
            if action.name == "approve" and rollout.created_by_id == user.pk:
                continue  # four eyes: someone else approves
            return Step(f"{action.label} on {cell.channel}", action=action.name, rollout=rollout)
    return Step(
        f"Open the rollout on {cell.channel}",
        url=reverse("admin:rollouts_rollout_change", args=[rollout.pk]),
        rollout=rollout,
    )


def pipeline_page(request: HttpRequest) -> TemplateResponse:
    """Recent releases across the channels, with each one's next step."""
    if not request.user.has_perm(VIEW_ROLLOUT):
        raise PermissionDenied
    channels, rows = selectors.pipeline()
    return TemplateResponse(
        request,
        "console/pipeline.html",
        {
            **admin.site.each_context(request),
            "title": "Release pipeline",
            "channels": channels,
            "rows": [(row, next_step(row, request.user)) for row in rows],
        },
    )


def markets_page(request: HttpRequest) -> TemplateResponse:
    """Each market: its storage, type approval, vehicle types and RXSWINs, and where the
    latest releases stand there (approval, copies)."""
    if not request.user.has_perm("rollouts.view_release"):
        raise PermissionDenied
    from compliance.selectors import markets_overview

    return TemplateResponse(
        request,
        "console/markets.html",
        {
            **admin.site.each_context(request),
            "title": "Markets",
            "markets": markets_overview(),
            "may_approve": request.user.has_perm("compliance.approve_market"),
        },
    )
