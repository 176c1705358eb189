from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from ota.views import healthz
from signing import urls as signing_urls

admin.site.site_header = "OTA release manager"
admin.site.site_title = "OTA release manager"
admin.site.index_title = "Fleet, releases and rollouts"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/tuf/", include(signing_urls.tuf_urlpatterns)),
    path("api/v1/manage/", include(signing_urls.manage_urlpatterns)),
    path("api/v1/", include("rollouts.api.urls")),
]
