"""/api/v1/… (SPEC §6.2). Explicit paths, no routers."""

from django.urls import path

import jobs.api.schema  # noqa: F401 - registers the OpenAPI authentication schemes
from jobs.api import (
    artifacts_views,
    events_views,
    job_detail_views,
    jobs_views,
    keys_views,
    logs_views,
    notifications_views,
    schedules_views,
    uploads_views,
    webhooks_views,
)
from templates_app import api as templates_api

urlpatterns = [
    path("workspace/", keys_views.WorkspaceView.as_view(), name="api-workspace"),
    path("templates/", templates_api.TemplateListView.as_view(), name="api-template-list"),
    path(
        "templates/<str:template_ref>/",
        templates_api.TemplateDetailView.as_view(),
        name="api-template-detail",
    ),
    path(
        "templates/<str:template_ref>/schema/",
        templates_api.TemplateSchemaView.as_view(),
        name="api-template-schema",
    ),
    path(
        "templates/<str:template_ref>/validate/",
        templates_api.TemplateValidateView.as_view(),
        name="api-template-validate",
    ),
    path(
        "templates/<str:template_ref>/trigger-key/",
        templates_api.TemplateTriggerKeyView.as_view(),
        name="api-template-trigger-key",
    ),
    path("jobs/", jobs_views.JobListView.as_view(), name="api-job-list"),
    path("jobs/batch/", jobs_views.JobBatchView.as_view(), name="api-job-batch"),
    path("jobs/<uuid:job_id>/", job_detail_views.JobDetailView.as_view(), name="api-job-detail"),
    path(
        "jobs/<uuid:job_id>/status/",
        job_detail_views.JobStatusView.as_view(),
        name="api-job-status",
    ),
    path("jobs/<uuid:job_id>/events/", events_views.JobEventsView.as_view(), name="api-job-events"),
    path("jobs/<uuid:job_id>/logs/", logs_views.JobLogsView.as_view(), name="api-job-logs"),
    path("jobs/<uuid:job_id>/result/", logs_views.JobResultView.as_view(), name="api-job-result"),
    path(
        "jobs/<uuid:job_id>/artifacts/",
        artifacts_views.JobArtifactListView.as_view(),
        name="api-job-artifacts",
    ),
    path(
        "jobs/<uuid:job_id>/artifacts/<path:name>",
        artifacts_views.JobArtifactDownloadView.as_view(),
        name="api-job-artifact",
    ),
    path("jobs/<uuid:job_id>/run/", job_detail_views.JobRunView.as_view(), name="api-job-run"),
    path(
        "jobs/<uuid:job_id>/cancel/",
        job_detail_views.JobCancelView.as_view(),
        name="api-job-cancel",
    ),
    path(
        "jobs/<uuid:job_id>/rerun/", job_detail_views.JobRerunView.as_view(), name="api-job-rerun"
    ),
    path("uploads/", uploads_views.UploadListView.as_view(), name="api-upload-list"),
    path("keys/", keys_views.KeyListView.as_view(), name="api-key-list"),
    path("keys/<int:key_id>/", keys_views.KeyDetailView.as_view(), name="api-key-detail"),
    path("webhooks/", webhooks_views.WebhookListView.as_view(), name="api-webhook-list"),
    path(
        "webhooks/<uuid:webhook_id>/",
        webhooks_views.WebhookDetailView.as_view(),
        name="api-webhook-detail",
    ),
    path(
        "webhooks/<uuid:webhook_id>/rotate-secret/",
        webhooks_views.WebhookRotateSecretView.as_view(),
        name="api-webhook-rotate-secret",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/",
        webhooks_views.WebhookDeliveryListView.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver/",
        webhooks_views.WebhookRedeliverView.as_view(),
        name="api-webhook-redeliver",
    ),
    path(
        "notifications/",
        notifications_views.NotificationChannelListView.as_view(),
        name="api-notification-list",
    ),
    path(
        "notifications/<uuid:channel_id>/",
        notifications_views.NotificationChannelDetailView.as_view(),
        name="api-notification-detail",
    ),
    path("schedules/", schedules_views.ScheduleListView.as_view(), name="api-schedule-list"),
    path(
        "schedules/<uuid:schedule_id>/",
        schedules_views.ScheduleDetailView.as_view(),
        name="api-schedule-detail",
    ),
]
