"""Management API for cohorts: static lists and filters that narrow a rollout."""

import copy

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.api import paginated
from ota.errors import NotFound
from ota.serializers import MarketField, RejectUnknownFieldsMixin, StrictCharField
from rollouts import cohorts, selectors
from rollouts.api.manage import VehiclePagination
from rollouts.models import Cohort, CohortKind
from rollouts.models.cohorts import validate_cohort_name
from rollouts.services import cohorts as cohort_services


class CohortNotFound(NotFound):
    code = "cohort_not_found"
    message = "No cohort has this name."


def _cohort(name: str) -> Cohort:
    cohort = Cohort.objects.filter(name=name).first()
    if cohort is None:
        raise CohortNotFound(detail={"name": name})
    return cohort


class FilterPartField(serializers.ListField):
    """A part of a cohort's filter, taken as it comes: validate_filter (rollouts/cohorts.py)
    checks it where the cohort is kept, and refuses with the cohort's own code (400
    invalid_cohort, naming the part). `schema` says the same rules in the OpenAPI schema."""

    def __init__(self, *, schema: dict | None = None, **kwargs):
        self.part_schema = schema or {"maxItems": cohorts.MAX_PARTS}
        super().__init__(required=False, **kwargs)

    def openapi_schema(self) -> dict:
        return copy.deepcopy(self.part_schema)


class CohortChangeSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)
    models = FilterPartField(child=StrictCharField(max_length=64))
    regions = FilterPartField(child=MarketField(max_length=16))
    hardware_ids = FilterPartField(
        child=StrictCharField(max_length=64), schema=cohorts.HARDWARE_IDS_SCHEMA
    )
    installed = FilterPartField(
        child=serializers.DictField(),
        schema=cohorts.INSTALLED_SCHEMA,
        help_text='[{"hardware_id": "hu-gen7", "versions": ["7.2.0"], "min_counter": 700, '
        '"max_counter": 719}]: an ECU of that hardware id runs one of the versions and/or a '
        "release counter in the range; every rule must hold",
    )


class CohortInputSerializer(CohortChangeSerializer):
    name = StrictCharField(max_length=64, validators=[validate_cohort_name])
    kind = serializers.ChoiceField(choices=CohortKind.choices)


class CohortOutputSerializer(serializers.ModelSerializer):
    models = serializers.ListField(source="model_names")
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Cohort
        fields = [
            "name",
            "kind",
            "description",
            "models",
            "regions",
            "hardware_ids",
            "installed",
            "created_by",
            "created_at",
            "updated_at",
        ]


class CohortDetailSerializer(CohortOutputSerializer):
    size = serializers.SerializerMethodField(help_text="Vehicles in the cohort now.")

    class Meta(CohortOutputSerializer.Meta):
        fields = [*CohortOutputSerializer.Meta.fields, "size"]

    def get_size(self, cohort: Cohort) -> int:
        return selectors.cohort_vehicles(cohort=cohort).count()


def _detail(cohort: Cohort, code: int = status.HTTP_200_OK) -> Response:
    return Response(CohortDetailSerializer(cohort).data, status=code)


class CohortCollectionApi(APIView):
    required_permissions = {"GET": ("rollouts.view_cohort",), "POST": ("rollouts.add_cohort",)}

    @extend_schema(operation_id="cohorts_list", responses=CohortOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        cohorts = Cohort.objects.select_related("created_by")[:500]
        return Response(CohortOutputSerializer(cohorts, many=True).data)

    @extend_schema(
        operation_id="cohorts_create",
        request=CohortInputSerializer,
        responses={201: CohortDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        data = CohortInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        cohort = cohort_services.cohort_create(
            spec=cohort_services.CohortSpec(
                name=given["name"],
                kind=given["kind"],
                description=given.get("description", ""),
                models=tuple(given.get("models", ())),
                regions=tuple(given.get("regions", ())),
                hardware_ids=tuple(given.get("hardware_ids", ())),
                installed=tuple(given.get("installed", ())),
            ),
            actor=request.user,
        )
        return _detail(cohort, status.HTTP_201_CREATED)


class CohortDetailApi(APIView):
    required_permissions = {
        "GET": ("rollouts.view_cohort",),
        "PATCH": ("rollouts.change_cohort",),
        "DELETE": ("rollouts.delete_cohort",),
    }

    @extend_schema(operation_id="cohorts_get", responses=CohortDetailSerializer)
    def get(self, request: Request, name: str) -> Response:
        return _detail(_cohort(name))

    @extend_schema(
        operation_id="cohorts_change",
        request=CohortChangeSerializer,
        responses=CohortDetailSerializer,
    )
    def patch(self, request: Request, name: str) -> Response:
        data = CohortChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = dict(data.validated_data)
        description = given.pop("description", None)
        cohort = cohort_services.cohort_update(
            cohort=_cohort(name), actor=request.user, description=description, **given
        )
        return _detail(cohort)

    @extend_schema(operation_id="cohorts_delete", responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        cohort_services.cohort_delete(cohort=_cohort(name), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VinsSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    vins = serializers.ListField(
        child=StrictCharField(max_length=17),
        min_length=1,
        max_length=cohort_services.MAX_VINS_PER_CHANGE,
    )


MembersChangedSerializer = inline_serializer(
    "MembersChanged",
    {
        "changed": serializers.IntegerField(help_text="VINs added (or removed)."),
        "unchanged": serializers.IntegerField(
            help_text="VINs already members (or, removing, not members)."
        ),
        "size": serializers.IntegerField(),
    },
)


class MemberPagination(VehiclePagination):
    page_size = 500  # VINs only: a page can be longer than the vehicle list's
    max_page_size = 5000


VINS_BODY_BYTES = 512 * 1024  # 10,000 VINs


class CohortMembersApi(APIView):
    required_permissions = {"GET": ("rollouts.view_cohort",), "POST": ("rollouts.change_cohort",)}
    max_body_bytes = VINS_BODY_BYTES

    @extend_schema(
        operation_id="cohorts_members_list",
        parameters=MemberPagination.schema_parameters(),
        responses=paginated(
            "CohortMemberPage", inline_serializer("CohortMember", {"vin": serializers.CharField()})
        ),
    )
    def get(self, request: Request, name: str) -> Response:
        vehicles: QuerySet = selectors.cohort_vehicles(cohort=_cohort(name)).only("vin")
        paginator = MemberPagination()
        page = paginator.paginate_queryset(vehicles, request, view=self)
        return paginator.get_paginated_response([{"vin": v.vin} for v in page])

    @extend_schema(
        operation_id="cohorts_members_add",
        request=VinsSerializer,
        responses=MembersChangedSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        return _change_members(request, name, cohort_services.cohort_members_add)


class CohortMembersRemoveApi(APIView):
    required_permissions = ("rollouts.change_cohort",)
    max_body_bytes = VINS_BODY_BYTES

    @extend_schema(
        operation_id="cohorts_members_remove",
        request=VinsSerializer,
        responses=MembersChangedSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        return _change_members(request, name, cohort_services.cohort_members_remove)


def _change_members(request: Request, name: str, change) -> Response:
    data = VinsSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    cohort = _cohort(name)
    result = change(cohort=cohort, vins=data.validated_data["vins"], actor=request.user)
    return Response(
        {
            "changed": result.changed,
            "unchanged": result.unchanged,
            "size": selectors.cohort_vehicles(cohort=cohort).count(),
        }
    )
