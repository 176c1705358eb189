from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from compliance import urls as compliance_urls
from ota.views import healthz, readyz
from rollouts.api import urls as rollouts_urls
from signing import urls as signing_urls

# In order of traffic: Django tries the patterns in turn, and vehicles poll the most.
urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/", include(rollouts_urls.vehicle_urlpatterns)),
    path("api/v1/tuf/", include(signing_urls.tuf_urlpatterns)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/manage/", include(signing_urls.manage_urlpatterns)),
    path("api/v1/manage/", include(compliance_urls.urlpatterns)),
    path("api/v1/", include(compliance_urls.public_urlpatterns)),
    path("api/v1/", include(rollouts_urls.urlpatterns)),
]

if settings.OTA_TEST_CLOCK:  # a test server's movable clock; `check --deploy` refuses it
    from ota.server_clock import TestClockApi

    urlpatterns.append(path("api/v1/testing/clock", TestClockApi.as_view(), name="testing-clock"))
