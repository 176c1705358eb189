"""Releases and rollouts in the admin: create, approve (four eyes) and act, with a reason."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import F, QuerySet, Sum
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ota.admin import ReadOnlyAdmin
from rollouts import install_policy
from rollouts.admin.actions import (
    ReasonForm,
    comma_names,
    confirm_then,
    regions_field,
    service_form_page,
)
from rollouts.halts import halt_description
from rollouts.models import (
    Assignment,
    Channel,
    Cohort,
    Evaluation,
    Release,
    ReleaseStatus,
    Rollout,
)
from rollouts.models.counters import FAILURE_COUNTERS
from rollouts.plans import (
    ON_HALT,
    POLICY_NUMBERS,
    PlanError,
    stages_as_text,
    stages_from_text,
)
from rollouts.selectors import (
    awaiting_type_approval,
    recall_progress,
    release_markets,
    rollout_markets,
)
from rollouts.services import releases as release_services
from rollouts.services import rollouts as rollout_services
from rollouts.services.rollout_actions import (
    APPROVE,
    ROLLOUT_ACTIONS,
    rollout_actions_allowed,
)
from signing.models import Bundle, BundleStatus


class ConfirmForm(forms.Form):
    """Nothing to fill in: the confirmation is the click."""


class StartForm(forms.Form):
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        required=False,
        help_text="Only to skip the promotion gate (approvers): why this release may start "
        "here before completing on the previous channel.",
    )


class ReleaseForm(forms.Form):
    version = forms.CharField(max_length=64)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    bundles = forms.ModelMultipleChoiceField(
        queryset=Bundle.objects.filter(status=BundleStatus.PUBLISHED),
        help_text="Published bundles, at most one per hardware id.",
    )
    models = forms.CharField(required=False, help_text="Comma-separated; empty: every model.")
    regions = regions_field()


# The health policy's fields the admin's rollout form offers (the rest keep the defaults).
POLICY_FIELDS = (
    "max_failure_rate",
    "min_finished",
    "max_rate_ratio",
    "min_exposure_hours",
    "install_timeout_minutes",
    "on_halt",
)


def _policy_field(name: str, label: str, help_text: str, *, whole: bool = False):
    low, high = POLICY_NUMBERS[name]
    field = forms.IntegerField if whole else forms.FloatField
    return field(label=label, min_value=low, max_value=high, required=False, help_text=help_text)


class RolloutForm(forms.Form):
    """What the management API takes: scope, stage plan and health policy, each filled in with
    the defaults (the channel's plan, the project's policy) for a person to change."""

    release = forms.ModelChoiceField(queryset=Release.objects.filter(status=ReleaseStatus.APPROVED))
    channel = forms.ModelChoiceField(queryset=Channel.objects.all())
    models = forms.CharField(required=False, help_text="Comma-separated; empty: every model.")
    regions = regions_field()
    cohort = forms.ModelChoiceField(
        queryset=Cohort.objects.all(),
        required=False,
        help_text="Only these vehicles of the channel take part; empty: all of them.",
    )
    stages = forms.CharField(
        label="Stage plan",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 40, "class": "vLargeTextField"}),
        help_text="One stage per line: percent of the scope, minimum soak in minutes, gate "
        "(auto or manual), maximum minutes before an inconclusive stage pauses. Filled in with "
        "the channel's default plan; empty: that default.",
    )
    max_failure_rate = _policy_field(
        "max_failure_rate",
        "Max install failure rate",
        "A share: 0.02 is 2 %. Halts when even the 95 % lower bound is above it.",
    )
    min_finished = _policy_field(
        "min_finished",
        "Finished installs before judging",
        "No verdict on the failure rate before this many installs have finished.",
        whole=True,
    )
    max_rate_ratio = _policy_field(
        "max_rate_ratio",
        "Max rate ratio against the control group",
        "Crashes, reboots and DTCs per driving hour, updated over not-yet-updated cars.",
    )
    min_exposure_hours = _policy_field(
        "min_exposure_hours",
        "Driving hours before judging health",
        "Both groups need this much driving before the ratio counts.",
    )
    install_timeout_minutes = _policy_field(
        "install_timeout_minutes",
        "Install time-out (minutes)",
        "A started install not finished by then counts as failed.",
        whole=True,
    )
    on_halt = forms.ChoiceField(
        label="On a halt",
        choices=[(v, v) for v in ON_HALT],
        required=False,
        help_text="stop: offer no more; retract: also withdraw offers not started; revert: "
        "also send updated cars back.",
    )

    class Media:
        js = ["rollouts/rollout_form.js"]

    def __init__(self, *args, initial=None, **kwargs):
        initial = dict(initial or {})
        for name in POLICY_FIELDS:
            initial.setdefault(name, settings.OTA_DEFAULT_POLICY[name])
        plans = {
            str(channel.pk): stages_as_text(rollout_services.default_stage_plan(channel.name))
            for channel in Channel.objects.all()
        }
        if "stages" not in initial and str(initial.get("channel", "")) in plans:
            initial["stages"] = plans[str(initial["channel"])]
        super().__init__(*args, initial=initial, **kwargs)
        # The page swaps in the chosen channel's plan while the text is still a default.
        self.fields["stages"].widget.attrs["data-channel-plans"] = json.dumps(plans)

    def clean_stages(self):
        text = self.cleaned_data["stages"]
        if not text.strip():
            return None
        try:
            return stages_from_text(text)
        except PlanError as exc:
            raise forms.ValidationError(str(exc)) from None


def form_policy(data: dict) -> dict:
    """The policy fields a person filled in (the rest keep the defaults)."""
    return {name: data[name] for name in POLICY_FIELDS if data.get(name) not in (None, "")}


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "bundle_paths", "created_by", "approved_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["version"]
    list_select_related = ["created_by", "approved_by"]
    fields = [
        "version",
        "status",
        "notes",
        "bundle_paths",
        "model_names",
        "regions",
        "type_approval",
        "created_by",
        "created_at",
        "approved_by",
        "approved_at",
    ]
    readonly_fields = fields
    actions = ["approve"]

    @admin.display(description="type approval per market")
    def type_approval(self, release: Release):
        """Each market it targets: approved (its assessment), awaiting (a link to approve,
        once the release itself is approved) or not required (compliance/)."""
        markets = release_markets(release)
        awaiting = set(awaiting_type_approval(release, markets))
        approvals = reverse("admin:compliance_marketapproval_changelist")
        rows = []
        for market in markets:
            if market in release.approved_markets:
                link = f"{approvals}?release__id__exact={release.pk}&market={market}"
                rows.append(format_html('{}: <a href="{}">approved</a>', market, link))
            elif market in awaiting and release.status == ReleaseStatus.APPROVED:
                link = reverse("admin:compliance_marketapproval_approve", args=[release.pk, market])
                rows.append(
                    format_html('{}: awaiting — <a href="{}">assess and approve</a>', market, link)
                )
            elif market in awaiting:
                rows.append(format_html("{}: awaiting (after the release's approval)", market))
            else:
                rows.append(format_html("{}: not required", market))
        return format_html_join(mark_safe("<br>"), "{}", ((row,) for row in rows))

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("items__bundle")

    @admin.display(description="bundles")
    def bundle_paths(self, release: Release) -> str:
        return ", ".join(item.bundle.path for item in release.items.all())

    def get_urls(self):
        view = self.admin_site.admin_view(self.create_view)
        return [path("create/", view, name="rollouts_release_create"), *super().get_urls()]

    def create_view(self, request: HttpRequest):
        def create(data):
            return release_services.release_create(
                spec=release_services.ReleaseSpec(
                    version=data["version"],
                    notes=data["notes"],
                    bundle_ids=[b.pk for b in data["bundles"]],
                    models=comma_names(data["models"]),
                    regions=list(data["regions"]),
                ),
                actor=request.user,
            )

        return service_form_page(
            self, request, ReleaseForm, "rollouts.add_release", "Create a release", create
        )

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("rollouts.approve_release")

    @admin.action(description="Approve selected releases", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Release]):
        def approve_one(release, data):
            release_services.release_approve(release=release, actor=request.user)
            return "approved"

        return confirm_then(
            self,
            request,
            queryset,
            action="approve",
            title="Approve releases",
            explanation="An approved release is immutable and can be rolled out. You cannot "
            "approve a release you created.",
            perform=approve_one,
            form_class=ConfirmForm,
        )


def _rollout_action(name: str):
    rollout_action = ROLLOUT_ACTIONS[name]

    def perform(request, rollout, data):
        said = data.get(rollout_action.asks, "") if rollout_action.asks else ""
        rollout = rollout_action.perform(rollout, request.user, reason=said)
        rollout.refresh_from_db()
        return f"now {rollout.status}"

    def action(modeladmin, request, queryset):
        form_class = {"approve": ConfirmForm, "start": StartForm}.get(name, ReasonForm)
        explanation = rollout_action.explanation
        if name == "resume":  # the person deciding to resume sees why it stopped
            halts = [f"{r}: {r.halt_description}" for r in queryset if r.halt_description]
            explanation = " ".join([explanation, *halts])
        return confirm_then(
            modeladmin,
            request,
            queryset,
            action=name,
            title=f"{rollout_action.label} rollouts",
            explanation=explanation,
            form_class=form_class,
            perform=lambda rollout, data: perform(request, rollout, data),
        )

    action.__name__ = name
    # Admin action permissions call `has_<name>_permission`: "approve" or "operate" below.
    short = "approve" if rollout_action.permission == APPROVE else "operate"
    return admin.action(
        description=f"{rollout_action.label} selected rollouts", permissions=[short]
    )(action)


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "release",
        "channel",
        "status",
        "offered",
        "succeeded",
        "failed",
        "deferred",
        "bytes_saved",
        "started_at",
        "created_by",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["release__version"]
    list_select_related = ["release", "channel", "created_by"]
    fields = [
        "release",
        "channel",
        "status",
        "halt_explained",
        "stage_plan",
        "bytes_saved",
        "install_policy_explained",
        "recall_explained",
        "latest_evaluations",
        "regions",
        "type_approval_awaited",
        "model_names",
        "cohort",
        "created_by",
        "created_at",
        "approved_by",
        "started_at",
        "finished_at",
        "gate_override_reason",
        "gate_overridden_by",
    ]
    readonly_fields = fields
    actions = [_rollout_action(name) for name in ROLLOUT_ACTIONS]

    @admin.display(description="markets awaiting type approval")
    def type_approval_awaited(self, rollout: Rollout) -> str:
        awaiting = awaiting_type_approval(rollout.release, rollout_markets(rollout))
        if not awaiting:
            return "none: every market of this rollout may be offered the release"
        return f"{', '.join(awaiting)}: no car there is offered it until approved"

    def get_queryset(self, request):
        # Summed from the per-stage counters: no COUNT over assignments, whatever the fleet.
        failures = sum(
            (F(f"counters__{name}") for name in FAILURE_COUNTERS[1:]),
            F(f"counters__{FAILURE_COUNTERS[0]}"),
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_offered=Sum("counters__offered"),
                n_succeeded=Sum("counters__succeeded"),
                n_failed=Sum(failures),
                n_deferred=Sum("counters__deferred") - Sum("counters__deferral_ended"),
                n_saved=Sum("counters__delta_bytes_saved"),
            )
        )

    @admin.display(description="offered")
    def offered(self, rollout) -> int:
        return rollout.n_offered or 0

    @admin.display(description="succeeded")
    def succeeded(self, rollout) -> int:
        return rollout.n_succeeded or 0

    @admin.display(description="failed")
    def failed(self, rollout) -> int:
        return rollout.n_failed or 0

    @admin.display(description="deferred")
    def deferred(self, rollout) -> int:
        """Cars waiting for their install window or conditions now: not failures."""
        return rollout.n_deferred or 0

    @admin.display(description="saved by deltas")
    def bytes_saved(self, rollout) -> str:
        """Download bytes cars did not fetch because a delta did the job."""
        saved = getattr(rollout, "n_saved", None) or 0
        return _bytes(saved) if saved else "—"

    @admin.display(description="install policy")
    def install_policy_explained(self, rollout) -> str:
        return install_policy.describe(rollout.effective_install_policy)

    @admin.display(description="safety recall")
    def recall_explained(self, rollout) -> str:
        """Per market, the cars that still lack the recall against its deadline."""
        progress = recall_progress(rollout=rollout)
        if progress is None:
            return "—"
        now = timezone.now()
        left = progress.deadline - now
        due = f"due {progress.deadline:%Y-%m-%d %H:%M} UTC, " + (
            f"in {_span(left)}" if left.total_seconds() > 0 else f"{_span(-left)} ago"
        )
        rows = format_html_join(
            "",
            '<tr style="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td><progress max="{}" value="{}" title="{} of {} updated"></progress></td></tr>',
            (
                (
                    "color: var(--error-fg)" if m.lacking and left.total_seconds() <= 0 else "",
                    m.market,
                    m.affected,
                    m.updated,
                    m.lacking,
                    m.affected or 1,
                    m.updated,
                    m.updated,
                    m.affected,
                )
                for m in progress.markets
            ),
        )
        return format_html(
            '<p>{}{}</p><table class="recall-progress"><thead><tr><th>market</th>'
            "<th>cars</th><th>updated</th><th>still lacking</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            due,
            "; stages skip their soak time" if progress.skip_soak else "",
            rows,
        )

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("rollouts.approve_rollout")

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("rollouts.change_rollout")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The rollout's page offers a button for each action its state allows and the
        person may take; each leads to the confirmation that asks for a reason."""
        rollout = self.get_object(request, object_id)
        buttons = [
            action
            for action in (rollout_actions_allowed(rollout) if rollout else [])
            if request.user.has_perm(action.permission)
        ]
        extra_context = {**(extra_context or {}), "rollout_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="halt reason")
    def halt_explained(self, rollout) -> str:
        return rollout.halt_description or "—"

    @admin.display(description="stages")
    def stage_plan(self, rollout) -> str:
        marks = []
        for index, stage in enumerate(rollout.stages):
            here = " ◀ now" if index == rollout.stage_index and rollout.status == "running" else ""
            marks.append(
                f"{index + 1}: {stage['percent']} % (soak {stage['min_soak_minutes']} min, "
                f"{stage['gate']}){here}"
            )
        return format_html_join(mark_safe("<br>"), "{}", ((m,) for m in marks))

    @admin.display(description="latest evaluations")
    def latest_evaluations(self, rollout) -> str:
        rows = rollout.evaluations.all()[:5]
        if not rows:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{} stage {}: {} (failure rate {} of {} finished)",
            (
                (
                    e.at.strftime("%Y-%m-%d %H:%M"),
                    e.stage_index + 1,
                    e.outcome,
                    e.numbers.get("failure_rate", {}).get("failed", "-"),
                    e.numbers.get("failure_rate", {}).get("finished", "-"),
                )
                for e in rows
            ),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.create_view)
        return [path("create/", view, name="rollouts_rollout_create"), *super().get_urls()]

    def create_view(self, request: HttpRequest):
        def create(data):
            return rollout_services.rollout_create(
                release=data["release"],
                channel=data["channel"],
                actor=request.user,
                regions=list(data["regions"]),
                models=comma_names(data["models"]),
                cohort=data["cohort"],
                stages=data["stages"],
                policy=form_policy(data),
            )

        # The pipeline page links here with the release and channel chosen.
        initial = {k: request.GET[k] for k in ("release", "channel") if k in request.GET}
        return service_form_page(
            self,
            request,
            RolloutForm,
            "rollouts.add_rollout",
            "Create a rollout",
            create,
            initial=initial,
        )


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = ["at", "rollout", "stage_index", "outcome", "why"]
    list_filter = ["outcome"]
    list_select_related = ["rollout__release", "rollout__channel"]

    @admin.display(description="why")
    def why(self, evaluation: Evaluation) -> str:
        """A halt's sentence, or what the evaluator said; never the stored JSON."""
        reason = evaluation.reason or {}
        if "metric" in reason:
            return halt_description(reason, evaluation.rollout) or ""
        return reason.get("text", "")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "vehicle", "rollout", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["vehicle__vin"]
    list_select_related = ["vehicle", "rollout__release", "rollout__channel"]


def _span(delta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return (
        f"{hours // 24} d {hours % 24} h"
        if hours >= 24
        else f"{hours} h {int(delta.total_seconds() // 60) % 60} min"
    )


def _bytes(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return ""
