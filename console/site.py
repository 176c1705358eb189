"""The admin site: Django's, with the dashboard as its landing page and the console's pages."""

from django.contrib import admin
from django.urls import path


class ConsoleSite(admin.AdminSite):
    site_header = "OTA release manager"
    site_title = "OTA release manager"
    index_title = "Dashboard"
    site_url = "/api/docs/"  # "View site": there is no public site; the API docs are

    def index(self, request, extra_context=None):
        from console.views import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def get_urls(self):
        from console import views

        def page(view):
            return self.admin_view(view)

        return [
            path("dashboard/live/", page(views.dashboard_live), name="console_dashboard_live"),
            path("pipeline/", page(views.pipeline_page), name="console_pipeline"),
            path("markets/", page(views.markets_page), name="console_markets"),
            path(
                "rollouts/rollout/<int:rollout_id>/charts/",
                page(views.rollout_charts),
                name="console_rollout_charts",
            ),
            *super().get_urls(),
        ]
