"""/api/… — the REST API v1, its schema and docs, and the trigger URLs (SPEC §6)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView

from jobs.api import trigger_views
from jobsite.api.errors import api_path_not_found
from jobsite.api.views import SchemaView

hooks = [
    path("trigger/", trigger_views.TriggerView.as_view(), name="api-hook-trigger"),
    path(
        "jobs/<str:job_id>/status/",
        trigger_views.HookJobStatusView.as_view(),
        name="api-hook-job-status",
    ),
    path(
        "jobs/<str:job_id>/logs/", trigger_views.HookJobLogsView.as_view(), name="api-hook-job-logs"
    ),
]

urlpatterns = [
    path("v1/", include("jobs.api.urls")),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("hooks/<str:workspace_slug>/<str:template_slug>/", include(hooks)),
    # Anything else under /api/ is a 404 in the API's error shape, not an HTML page.
    re_path(r"^(?P<path>[\s\S]*)$", api_path_not_found),
]
