from django.urls import path

from rollouts.api import cohorts, converters, manage, releases, vehicle
from rollouts.services.rollout_actions import ROLLOUT_ACTIONS

converters.register()  # <vin:…> and <manage_vin:…>

# Vehicle protocol v1: the fleet's busiest URLs, resolved first (ota/urls.py).
vehicle_urlpatterns = [
    # A poll's requests, the most frequent first: Director metadata, then the manifest.
    path(
        "tuf/director/<vin:vin>/metadata/<str:filename>",
        vehicle.director_metadata,
        name="tuf-director-metadata",
    ),
    path("vehicles/<vin:vin>/manifest", vehicle.ManifestApi.as_view(), name="vehicle-manifest"),
    path("vehicles/<vin:vin>", vehicle.VehicleSelfApi.as_view(), name="vehicle-self"),
    path("vehicles/<vin:vin>/events", vehicle.EventsApi.as_view(), name="vehicle-events"),
    path("vehicles/<vin:vin>/health", vehicle.HealthApi.as_view(), name="vehicle-health"),
    path("vehicles/<vin:vin>/channel", vehicle.VehicleChannelApi.as_view(), name="vehicle-channel"),
]

# Management API
urlpatterns = [
    path("manage/vehicles", manage.VehicleCollectionApi.as_view(), name="manage-vehicles"),
    path(
        "manage/vehicles/bulk",
        manage.VehicleBulkProvisionApi.as_view(),
        name="manage-vehicles-bulk",
    ),
    path(
        "manage/vehicles/<manage_vin:vin>", manage.VehicleDetailApi.as_view(), name="manage-vehicle"
    ),
    path(
        "manage/vehicles/<manage_vin:vin>/token/revoke",
        manage.VehicleTokenRevokeApi.as_view(),
        name="manage-vehicle-token-revoke",
    ),
    path(
        "manage/vehicles/<manage_vin:vin>/token/rotate",
        manage.VehicleTokenRotateApi.as_view(),
        name="manage-vehicle-token-rotate",
    ),
    path(
        "manage/vehicles/<manage_vin:vin>/channel",
        manage.VehicleChannelManageApi.as_view(),
        name="manage-vehicle-channel",
    ),
    path("manage/cohorts", cohorts.CohortCollectionApi.as_view(), name="manage-cohorts"),
    path("manage/cohorts/<slug:name>", cohorts.CohortDetailApi.as_view(), name="manage-cohort"),
    path(
        "manage/cohorts/<slug:name>/members",
        cohorts.CohortMembersApi.as_view(),
        name="manage-cohort-members",
    ),
    path(
        "manage/cohorts/<slug:name>/members/remove",
        cohorts.CohortMembersRemoveApi.as_view(),
        name="manage-cohort-members-remove",
    ),
    path("manage/releases", releases.ReleaseCollectionApi.as_view(), name="manage-releases"),
    path(
        "manage/releases/<int:release_id>",
        releases.ReleaseDetailApi.as_view(),
        name="manage-release",
    ),
    path(
        "manage/releases/<int:release_id>/approve",
        releases.ReleaseApproveApi.as_view(),
        name="manage-release-approve",
    ),
    path("manage/rollouts", releases.RolloutCollectionApi.as_view(), name="manage-rollouts"),
    path(
        "manage/rollouts/<int:rollout_id>",
        releases.RolloutDetailApi.as_view(),
        name="manage-rollout",
    ),
    path(
        "manage/rollouts/<int:rollout_id>/evaluate",
        releases.RolloutEvaluateApi.as_view(),
        name="manage-rollout-evaluate",
    ),
    *[
        path(
            f"manage/rollouts/<int:rollout_id>/{name}",
            releases.rollout_action_view(name),
            name=f"manage-rollout-{name}",
        )
        for name in ROLLOUT_ACTIONS
    ],
]
