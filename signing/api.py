"""Management API for bundles: upload (streamed), direct-to-S3 upload, publish."""

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ota.api import LimitedJSONParser, PayloadTooLarge
from ota.errors import Malformed, NotFound
from ota.serializers import RejectUnknownFieldsMixin, StrictCharField, StrictIntegerField
from signing.models import Bundle, validate_target_path
from signing.names import HARDWARE_ID_PATTERN
from signing.services import bundles


class BundleNotFound(NotFound):
    code = "bundle_not_found"
    message = "No bundle has this id."


class MissingFile(Malformed):
    code = "file_missing"
    message = "Send the bundle as the multipart field `file`."


class BundleFieldsSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    path = serializers.CharField(max_length=200, validators=[validate_target_path])
    hardware_id = serializers.RegexField(HARDWARE_ID_PATTERN, max_length=64)
    version = serializers.CharField(max_length=64)
    release_counter = serializers.IntegerField(min_value=0, max_value=2**31 - 1)

    def to_spec(self) -> bundles.BundleSpec:
        return bundles.BundleSpec(**self.validated_data)


class JsonBundleFieldsSerializer(BundleFieldsSerializer):
    """The same fields in a JSON body, where types are strict."""

    path = StrictCharField(max_length=200, validators=[validate_target_path])
    version = StrictCharField(max_length=64)
    release_counter = StrictIntegerField(min_value=0, max_value=2**31 - 1)


class BundleOutputSerializer(serializers.ModelSerializer):
    hashes = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Bundle
        fields = [
            "id",
            "path",
            "hardware_id",
            "version",
            "release_counter",
            "length",
            "hashes",
            "status",
            "failure",
            "created_at",
            "published_at",
        ]


class BundleUploadSerializer(BundleFieldsSerializer):
    """A bundle upload: its bytes (`file`) and what it is. Unknown fields are refused."""

    file = serializers.FileField()


def _bundle_or_404(bundle_id: int) -> Bundle:
    bundle = Bundle.objects.filter(pk=bundle_id).first()
    if bundle is None:
        raise BundleNotFound(detail={"id": bundle_id})
    return bundle


class BundleCollectionApi(APIView):
    required_permissions = {"GET": ("signing.view_bundle",), "POST": ("signing.add_bundle",)}
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        # The upload streams to a temporary file (the bundle is never in memory), then into
        # storage, hashed as it is stored.
        if request.method == "POST":
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
            if declared > settings.OTA_MAX_BUNDLE_BYTES:
                raise PayloadTooLarge(settings.OTA_MAX_BUNDLE_BYTES)
            request._request.upload_handlers = [TemporaryFileUploadHandler(request._request)]
        super().initial(request, *args, **kwargs)

    @extend_schema(operation_id="bundles_list", responses=BundleOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        recent = Bundle.objects.all()[:200]
        return Response(BundleOutputSerializer(recent, many=True).data)

    @extend_schema(
        operation_id="bundles_upload",
        request={"multipart/form-data": BundleUploadSerializer},
        responses={201: BundleOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        fields = {k: v for k, v in request.data.items() if k != "file"}
        serializer = BundleFieldsSerializer(data=fields)
        serializer.is_valid(raise_exception=True)
        if upload is None:
            raise MissingFile()
        bundle = bundles.bundle_ingest_file(
            spec=serializer.to_spec(), stream=upload.file, actor=request.user
        )
        return Response(BundleOutputSerializer(bundle).data, status=status.HTTP_201_CREATED)


class BundleDirectUploadApi(APIView):
    required_permissions = ("signing.add_bundle",)
    parser_classes = [LimitedJSONParser]

    @extend_schema(
        operation_id="bundles_direct_upload_start",
        request=JsonBundleFieldsSerializer,
        responses={
            201: inline_serializer(
                "DirectUploadStarted",
                {
                    "bundle": BundleOutputSerializer(),
                    "upload": inline_serializer(
                        "PresignedUpload",
                        {
                            "method": serializers.CharField(),
                            "url": serializers.URLField(),
                            "expires_in": serializers.IntegerField(),
                        },
                    ),
                },
            )
        },
        description="Reserve a bundle and get a presigned PUT URL (S3 storage only). PUT the "
        "bytes there, then POST /manage/bundles/{id}/complete; the server hashes the object.",
    )
    def post(self, request: Request) -> Response:
        serializer = JsonBundleFieldsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        started = bundles.bundle_start_direct_upload(spec=serializer.to_spec(), actor=request.user)
        return Response(
            {
                "bundle": BundleOutputSerializer(started.bundle).data,
                "upload": {"method": "PUT", "url": started.url, "expires_in": started.expires_in},
            },
            status=status.HTTP_201_CREATED,
        )


class BundleDetailApi(APIView):
    required_permissions = ("signing.view_bundle",)

    @extend_schema(operation_id="bundles_get", responses=BundleOutputSerializer)
    def get(self, request: Request, bundle_id: int) -> Response:
        return Response(BundleOutputSerializer(_bundle_or_404(bundle_id)).data)


class BundleCompleteApi(APIView):
    required_permissions = ("signing.add_bundle",)

    @extend_schema(
        operation_id="bundles_direct_upload_complete",
        request=None,
        responses={202: BundleOutputSerializer},
    )
    def post(self, request: Request, bundle_id: int) -> Response:
        bundle = bundles.bundle_complete_direct_upload(
            bundle=_bundle_or_404(bundle_id), actor=request.user
        )
        bundle.refresh_from_db()
        return Response(BundleOutputSerializer(bundle).data, status=status.HTTP_202_ACCEPTED)


class BundlePublishApi(APIView):
    required_permissions = ("signing.publish_bundle",)

    @extend_schema(
        operation_id="bundles_publish",
        request=None,
        responses=inline_serializer(
            "BundlePublished",
            {"bundle": BundleOutputSerializer(), "targets_version": serializers.IntegerField()},
        ),
    )
    def post(self, request: Request, bundle_id: int) -> Response:
        bundle, targets_version = bundles.bundle_publish(
            bundle=_bundle_or_404(bundle_id), actor=request.user
        )
        return Response({**BundleOutputSerializer(bundle).data, "targets_version": targets_version})
