"""Management API for releases and rollouts."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.errors import NotFound
from ota.serializers import (
    MAX_BIGINT,
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictIntegerField,
    UniqueListField,
)
from rollouts import install_policy, plans
from rollouts.errors import UnknownChannel, UnknownCohort
from rollouts.health import wilson
from rollouts.models import Channel, Cohort, Release, Rollout
from rollouts.selectors import awaiting_type_approval, recall_progress, rollout_markets
from rollouts.services import counters
from rollouts.services import releases as release_services
from rollouts.services import rollouts as rollout_services
from rollouts.services.evaluation import rollout_evaluate_or_report
from rollouts.services.rollout_actions import ROLLOUT_ACTIONS


class ReleaseNotFound(NotFound):
    code = "release_not_found"
    message = "No release has this id."


class RolloutNotFound(NotFound):
    code = "rollout_not_found"
    message = "No rollout has this id."


@extend_schema_field(install_policy.SCHEMA)
class InstallPolicyField(serializers.DictField):
    """An install policy: the schema says its shape; `install_policy.validate` checks it where
    it is kept (a release, a rollout), against the server's clock."""


@extend_schema_field(plans.STAGES_SCHEMA)
class StagePlanField(serializers.ListField):
    """A stage plan: the schema says its shape; `plans.validate_stages` checks it."""


@extend_schema_field(plans.POLICY_SCHEMA)
class HealthPolicyField(serializers.DictField):
    """Overrides of the default health policy: the schema says their shape;
    `plans.validate_policy` checks them."""


class ReleaseInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    version = StrictCharField(max_length=64)
    notes = StrictCharField(allow_blank=True, required=False, default="", max_length=20000)
    bundles = UniqueListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_BIGINT),
        allow_empty=False,
        max_length=64,
        error_messages={"repeated": "Each bundle once."},
    )
    requires = serializers.DictField(
        child=serializers.DictField(child=StrictIntegerField(min_value=0, max_value=MAX_BIGINT)),
        required=False,
        help_text='Per bundle id, e.g. {"7": {"bms-v2": 205}}: a bms-v2 ECU at counter 205+.',
    )
    models = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list
    )
    regions = serializers.ListField(
        child=StrictCharField(max_length=16), required=False, default=list
    )
    install_policy = InstallPolicyField(
        required=False,
        default=dict,
        help_text="When and how cars may install it: windows, preconditions, download policy, "
        "urgency (docs/pouf.md, Install policy). {}: whenever offered.",
    )

    def validate_requires(self, value):
        try:
            return {int(key): requirement for key, requirement in value.items()}
        except ValueError:
            raise serializers.ValidationError("Keys are bundle ids.") from None


class ReleaseOutputSerializer(serializers.ModelSerializer):
    bundles = serializers.SerializerMethodField()
    models = serializers.ListField(source="model_names")
    created_by = serializers.CharField(source="created_by.username")
    approved_by = serializers.CharField(
        source="approved_by.username", default=None, allow_null=True, help_text="null: a draft"
    )

    class Meta:
        model = Release
        fields = [
            "id",
            "version",
            "notes",
            "status",
            "bundles",
            "models",
            "regions",
            "install_policy",
            "created_by",
            "created_at",
            "approved_by",
            "approved_at",
        ]

    def get_bundles(self, release: Release) -> list[dict]:
        return [
            {
                "id": item.bundle_id,
                "path": item.bundle.path,
                "hardware_id": item.hardware_id,
                "release_counter": item.bundle.release_counter,
                "requires": item.requires,
            }
            for item in release.items.all()
        ]


def _release(release_id: int) -> Release:
    release = Release.objects.prefetch_related("items__bundle").filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(detail={"id": release_id})
    return release


class ReleaseCollectionApi(APIView):
    required_permissions = {"GET": ("rollouts.view_release",), "POST": ("rollouts.add_release",)}

    @extend_schema(operation_id="releases_list", responses=ReleaseOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        releases = Release.objects.prefetch_related("items__bundle").select_related(
            "created_by", "approved_by"
        )[:200]
        return Response(ReleaseOutputSerializer(releases, many=True).data)

    @extend_schema(
        operation_id="releases_create",
        request=ReleaseInputSerializer,
        responses={201: ReleaseOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = ReleaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        spec = release_services.ReleaseSpec(
            version=data.validated_data["version"],
            notes=data.validated_data["notes"],
            bundle_ids=data.validated_data["bundles"],
            requires=data.validated_data.get("requires", {}),
            models=data.validated_data["models"],
            regions=data.validated_data["regions"],
            install_policy=data.validated_data["install_policy"],
        )
        release = release_services.release_create(spec=spec, actor=request.user)
        return Response(
            ReleaseOutputSerializer(_release(release.pk)).data, status=status.HTTP_201_CREATED
        )


class ReleaseDetailApi(APIView):
    required_permissions = ("rollouts.view_release",)

    @extend_schema(operation_id="releases_get", responses=ReleaseOutputSerializer)
    def get(self, request: Request, release_id: int) -> Response:
        return Response(ReleaseOutputSerializer(_release(release_id)).data)


class ReleaseApproveApi(APIView):
    required_permissions = ("rollouts.approve_release",)

    @extend_schema(operation_id="releases_approve", request=None, responses=ReleaseOutputSerializer)
    def post(self, request: Request, release_id: int) -> Response:
        release = release_services.release_approve(release=_release(release_id), actor=request.user)
        return Response(ReleaseOutputSerializer(_release(release.pk)).data)


# --- rollouts ---------------------------------------------------------------------------------


class RolloutInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    release = StrictIntegerField(min_value=1, max_value=MAX_BIGINT)
    channel = StrictCharField(max_length=40)
    stages = StagePlanField(
        child=serializers.DictField(),
        required=False,
        max_length=plans.MAX_STAGES,
        help_text='[{"percent": 1, "min_soak_minutes": 720, "gate": "auto", '
        '"max_duration_minutes": 4320}, …]; default: the channel\'s plan',
    )
    policy = HealthPolicyField(
        required=False, help_text="Overrides of the default health policy (see docs)."
    )
    regions = serializers.ListField(
        child=StrictCharField(max_length=16), required=False, default=list
    )
    models = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list
    )
    cohort = StrictCharField(
        max_length=64,
        required=False,
        allow_null=True,
        help_text="A cohort's name: only its vehicles (within regions and models) take part.",
    )
    install_policy = InstallPolicyField(
        required=False,
        allow_null=True,
        default=None,
        help_text="This rollout's own install policy; null: the release's.",
    )


class RolloutOutputSerializer(serializers.ModelSerializer):
    release = serializers.PrimaryKeyRelatedField(read_only=True)
    release_version = serializers.CharField(source="release.version")
    channel = serializers.CharField(source="channel.name")
    models = serializers.ListField(source="model_names")
    cohort = serializers.CharField(source="cohort.name", allow_null=True, default=None)
    stage_index = serializers.SerializerMethodField()
    stages = serializers.SerializerMethodField()
    halt_reason = serializers.SerializerMethodField()
    halt_description = serializers.CharField(
        read_only=True, allow_null=True, help_text="Why it halted, as a sentence for people."
    )
    effective_install_policy = serializers.DictField(
        read_only=True,
        help_text="What cars obey: this rollout's install policy, else the release's.",
    )

    class Meta:
        model = Rollout
        fields = [
            "id",
            "status",
            "release",
            "release_version",
            "channel",
            "regions",
            "models",
            "cohort",
            "stage_index",
            "stages",
            "policy",
            "install_policy",
            "effective_install_policy",
            "safety_recall",
            "halt_reason",
            "halt_description",
            "gate_override_reason",
            "created_at",
            "started_at",
            "stage_started_at",
            "finished_at",
        ]

    def get_stage_index(self, rollout: Rollout) -> int:
        return rollout.stage_index

    def get_stages(self, rollout: Rollout) -> list[dict]:
        # From the per-stage counters, never a scan of assignments.
        by_stage = counters.by_stage(rollout=rollout)
        stages = []
        for index, stage in enumerate(rollout.stages or [{"percent": 100}]):
            stage_counts = by_stage.get(index, counters.empty())
            rate = wilson(
                stage_counts["failed"],
                stage_counts["finished"],
                rollout.policy.get("confidence", 0.95),
            )
            stages.append(
                {
                    **stage,
                    "counts": stage_counts,
                    "failure_rate": {"value": rate.value, "lower": rate.lower, "upper": rate.upper},
                }
            )
        return stages

    def get_halt_reason(self, rollout: Rollout) -> dict | None:
        return rollout.halt_reason


class MarketRecallSerializer(serializers.Serializer):
    market = serializers.CharField(read_only=True)
    affected = serializers.IntegerField(help_text="Compatible cars the recall is for.")
    updated = serializers.IntegerField(help_text="Of those, cars that run it (or newer).")
    lacking = serializers.IntegerField(help_text="Of those, cars still without it.")
    unreachable = serializers.IntegerField(
        help_text="Of those lacking it, cars whose software does not announce the install "
        "policy format: they are not offered it until their software is updated."
    )


class RecallProgressSerializer(serializers.Serializer):
    deadline = serializers.DateTimeField()
    skip_soak = serializers.BooleanField(help_text="Stages advance without their soak time.")
    overdue = serializers.SerializerMethodField(
        help_text="The deadline has passed and some market still has cars without it."
    )
    markets = MarketRecallSerializer(many=True)

    def get_overdue(self, progress) -> bool:
        return progress.overdue(timezone.now())


class RolloutDetailOutputSerializer(RolloutOutputSerializer):
    recall = serializers.SerializerMethodField(
        help_text="A safety recall's progress per market against its deadline (null: none)."
    )

    awaiting_type_approval = serializers.SerializerMethodField(
        help_text="Its markets whose type approval of the release is still missing: no car "
        "there is offered it yet (docs/compliance.md)."
    )

    class Meta(RolloutOutputSerializer.Meta):
        fields = [*RolloutOutputSerializer.Meta.fields, "recall", "awaiting_type_approval"]

    def get_awaiting_type_approval(self, rollout: Rollout) -> list[str]:
        return awaiting_type_approval(rollout.release, rollout_markets(rollout))

    @extend_schema_field(RecallProgressSerializer(allow_null=True))
    def get_recall(self, rollout: Rollout) -> dict | None:
        progress = recall_progress(rollout=rollout)
        return None if progress is None else RecallProgressSerializer(progress).data


def _rollout(rollout_id: int) -> Rollout:
    rollout = (
        Rollout.objects.select_related("release", "channel", "cohort").filter(pk=rollout_id).first()
    )
    if rollout is None:
        raise RolloutNotFound(detail={"id": rollout_id})
    return rollout


class RolloutCollectionApi(APIView):
    required_permissions = {"GET": ("rollouts.view_rollout",), "POST": ("rollouts.add_rollout",)}

    @extend_schema(operation_id="rollouts_list", responses=RolloutOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        rollouts = Rollout.objects.select_related("release", "channel", "cohort")[:200]
        return Response(RolloutOutputSerializer(rollouts, many=True).data)

    @extend_schema(
        operation_id="rollouts_create",
        request=RolloutInputSerializer,
        responses={201: RolloutOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = RolloutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = Channel.objects.filter(name=data.validated_data["channel"]).first()
        if channel is None:
            raise UnknownChannel(detail={"channels": [data.validated_data["channel"]]})
        rollout = rollout_services.rollout_create(
            release=_release(data.validated_data["release"]),
            channel=channel,
            actor=request.user,
            regions=data.validated_data["regions"],
            models=data.validated_data["models"],
            cohort=_named_cohort(data.validated_data.get("cohort")),
            stages=data.validated_data.get("stages"),
            policy=data.validated_data.get("policy"),
            install_policy=data.validated_data["install_policy"],
        )
        return Response(
            RolloutOutputSerializer(_rollout(rollout.pk)).data, status=status.HTTP_201_CREATED
        )


def _named_cohort(name: str | None) -> Cohort | None:
    if not name:
        return None
    cohort = Cohort.objects.filter(name=name).first()
    if cohort is None:
        raise UnknownCohort(detail={"cohort": name})
    return cohort


class RolloutDetailApi(APIView):
    required_permissions = ("rollouts.view_rollout",)

    @extend_schema(operation_id="rollouts_get", responses=RolloutDetailOutputSerializer)
    def get(self, request: Request, rollout_id: int) -> Response:
        return Response(RolloutDetailOutputSerializer(_rollout(rollout_id)).data)


class ActionInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    override_reason = StrictCharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="start only: why the promotion gate may be skipped",
    )


class EvaluationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    stage_index = serializers.IntegerField()
    outcome = serializers.CharField()
    numbers = serializers.DictField()
    reason = serializers.DictField(allow_null=True)


class RolloutEvaluateApi(APIView):
    """Run the evaluator for this rollout now; answers the stored evaluation."""

    required_permissions = ("rollouts.change_rollout",)

    @extend_schema(
        operation_id="rollouts_evaluate", request=None, responses=EvaluationOutputSerializer
    )
    def post(self, request: Request, rollout_id: int) -> Response:
        evaluation = rollout_evaluate_or_report(rollout_id=_rollout(rollout_id).pk)
        return Response(EvaluationOutputSerializer(evaluation).data)


class RolloutActionApi(APIView):
    """POST /manage/rollouts/{id}/{action}: one service call per action."""

    action_name = ""

    @property
    def required_permissions(self):
        return (ROLLOUT_ACTIONS[self.action_name].permission,)

    def act(self, request: Request, rollout_id: int) -> Response:
        data = ActionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = ROLLOUT_ACTIONS[self.action_name]
        said = data.validated_data[
            "override_reason" if action.asks == "override_reason" else "reason"
        ]
        rollout = action.perform(_rollout(rollout_id), request.user, reason=said)
        return Response(RolloutOutputSerializer(_rollout(rollout.pk)).data)


def rollout_action_view(name: str):
    @extend_schema(
        operation_id=f"rollouts_{name}",
        request=ActionInputSerializer,
        responses=RolloutOutputSerializer,
    )
    def post(self, request: Request, rollout_id: int) -> Response:
        return self.act(request, rollout_id)

    view = type(
        f"Rollout{name.title()}Api", (RolloutActionApi,), {"action_name": name, "post": post}
    )
    return view.as_view()
