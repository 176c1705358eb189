from django.urls import path

from compliance import api
from rollouts.api import converters

converters.register()  # <manage_vin:…>

# Under api/v1/manage/
urlpatterns = [
    path("markets", api.MarketsApi.as_view(), name="manage-markets"),
    path(
        "releases/<int:release_id>/markets",
        api.ReleaseMarketsApi.as_view(),
        name="manage-release-markets",
    ),
    path(
        "releases/<int:release_id>/markets/<str:market>/approve",
        api.MarketApproveApi.as_view(),
        name="manage-release-market-approve",
    ),
    path("rxswins", api.RxswinRegisterApi.as_view(), name="manage-rxswins"),
    path(
        "vehicles/<manage_vin:vin>/rxswin",
        api.VehicleRxswinApi.as_view(),
        name="manage-vehicle-rxswin",
    ),
    path("evidence/exports", api.ExportCollectionApi.as_view(), name="manage-evidence-exports"),
    path(
        "evidence/exports/<int:export_id>",
        api.ExportDetailApi.as_view(),
        name="manage-evidence-export",
    ),
    path(
        "evidence/exports/<int:export_id>/file",
        api.ExportFileApi.as_view(),
        name="manage-evidence-export-file",
    ),
    path(
        "evidence/exports/<int:export_id>/sha256",
        api.ExportDigestApi.as_view(),
        name="manage-evidence-export-sha256",
    ),
    path(
        "evidence/exports/<int:export_id>/signature",
        api.ExportSignatureApi.as_view(),
        name="manage-evidence-export-signature",
    ),
]

# Under api/v1/: published, so that anyone can verify an export.
public_urlpatterns = [
    path("export-keys", api.ExportKeysApi.as_view(), name="export-keys"),
    path("export-keys/<str:keyid>.pem", api.ExportKeyPemApi.as_view(), name="export-key"),
]
