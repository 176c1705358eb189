from django.urls import path

from signing import api, views

tuf_urlpatterns = [
    path("image/metadata/<str:filename>", views.image_metadata, name="tuf-image-metadata"),
    path("image/targets/<path:target>", views.image_target, name="tuf-image-target"),
]

manage_urlpatterns = [
    path("bundles", api.BundleCollectionApi.as_view(), name="manage-bundles"),
    path("bundles/uploads", api.BundleDirectUploadApi.as_view(), name="manage-bundle-uploads"),
    path("bundles/<int:bundle_id>", api.BundleDetailApi.as_view(), name="manage-bundle"),
    path(
        "bundles/<int:bundle_id>/complete",
        api.BundleCompleteApi.as_view(),
        name="manage-bundle-complete",
    ),
    path(
        "bundles/<int:bundle_id>/publish",
        api.BundlePublishApi.as_view(),
        name="manage-bundle-publish",
    ),
]
