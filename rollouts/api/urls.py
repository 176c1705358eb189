from django.urls import path, register_converter

from rollouts.api import manage, vehicle
from rollouts.api.converters import VinConverter

register_converter(VinConverter, "vin")

urlpatterns = [
    # Vehicle protocol v1
    path("vehicles/<vin:vin>", vehicle.VehicleSelfApi.as_view(), name="vehicle-self"),
    # Management API
    path("manage/vehicles", manage.VehicleCollectionApi.as_view(), name="manage-vehicles"),
    path(
        "manage/vehicles/bulk",
        manage.VehicleBulkProvisionApi.as_view(),
        name="manage-vehicles-bulk",
    ),
    path("manage/vehicles/<vin:vin>", manage.VehicleDetailApi.as_view(), name="manage-vehicle"),
    path(
        "manage/vehicles/<vin:vin>/token/revoke",
        manage.VehicleTokenRevokeApi.as_view(),
        name="manage-vehicle-token-revoke",
    ),
    path(
        "manage/vehicles/<vin:vin>/token/rotate",
        manage.VehicleTokenRotateApi.as_view(),
        name="manage-vehicle-token-rotate",
    ),
]
