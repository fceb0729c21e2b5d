"""The web UI's URLs (the API's live under /api/, see jobsite/api/urls.py)."""

from django.urls import path

from jobs.views import (
    dashboard,
    job_actions,
    job_detail,
    job_list,
    job_log,
    settings_notifications,
    settings_pages,
    settings_schedules,
    settings_webhooks,
    start,
    template_editor,
    workspace,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("workspace/", workspace.workspace_switch, name="workspace-switch"),
    # A template's page shows its runs and hosts the start form, so it lives here.
    path("templates/-/new/", template_editor.template_new, name="template-new"),
    path("templates/-/check/", template_editor.template_check, name="template-check"),
    path("templates/<slug:slug>/", start.template_detail, name="template-detail"),
    path("templates/<slug:slug>/edit/", template_editor.template_edit, name="template-edit"),
    path(
        "templates/<slug:slug>/versions/",
        template_editor.template_versions,
        name="template-versions",
    ),
    path(
        "templates/<slug:slug>/versions/<int:number>/restore/",
        template_editor.template_restore,
        name="template-restore",
    ),
    path("templates/<slug:slug>/start/", start.template_start, name="template-start"),
    path("jobs/", job_list.job_list, name="job-list"),
    path("jobs/rows/", job_list.job_list_rows, name="job-list-rows"),
    path("jobs/<uuid:job_id>/", job_detail.job_detail, name="job-detail"),
    path("jobs/<uuid:job_id>/log.json", job_log.job_log, name="job-log"),
    path("jobs/<uuid:job_id>/log.txt", job_detail.job_log_download, name="job-log-download"),
    path(
        "jobs/<uuid:job_id>/artifacts/<path:name>",
        job_detail.artifact_download,
        name="job-artifact",
    ),
    path("jobs/<uuid:job_id>/run/", job_actions.job_run, name="job-run"),
    path("jobs/<uuid:job_id>/cancel/", job_actions.job_cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/rerun/", job_actions.job_rerun, name="job-rerun"),
    path("jobs/<uuid:job_id>/rerun/edit/", start.job_rerun_edit, name="job-rerun-edit"),
    path("settings/", settings_pages.settings_members, name="settings"),
    path("settings/members/", settings_pages.settings_members, name="settings-members"),
    path("settings/members/add/", settings_pages.settings_member_add, name="settings-member-add"),
    path(
        "settings/members/invite/",
        settings_pages.settings_member_invite,
        name="settings-member-invite",
    ),
    path(
        "settings/invitations/<int:invitation_id>/cancel/",
        settings_pages.settings_invitation_cancel,
        name="settings-invitation-cancel",
    ),
    path(
        "settings/members/<int:membership_id>/",
        settings_pages.settings_member_change,
        name="settings-member-change",
    ),
    path("settings/keys/", settings_pages.settings_keys, name="settings-keys"),
    path("settings/keys/new/", settings_pages.settings_key_create, name="settings-key-create"),
    path(
        "settings/keys/<int:key_id>/revoke/",
        settings_pages.settings_key_revoke,
        name="settings-key-revoke",
    ),
    path("settings/triggers/", settings_pages.settings_triggers, name="settings-triggers"),
    path(
        "settings/triggers/<slug:slug>/key/",
        settings_pages.settings_trigger_key,
        name="settings-trigger-key",
    ),
    path(
        "settings/notifications/",
        settings_notifications.settings_notifications,
        name="settings-notifications",
    ),
    path(
        "settings/notifications/new/",
        settings_notifications.settings_notification_new,
        name="settings-notification-new",
    ),
    path(
        "settings/notifications/<uuid:channel_id>/",
        settings_notifications.settings_notification_edit,
        name="settings-notification-edit",
    ),
    path(
        "settings/notifications/<uuid:channel_id>/delete/",
        settings_notifications.settings_notification_delete,
        name="settings-notification-delete",
    ),
    path("settings/webhooks/", settings_webhooks.settings_webhooks, name="settings-webhooks"),
    path(
        "settings/webhooks/new/",
        settings_webhooks.settings_webhook_new,
        name="settings-webhook-new",
    ),
    path(
        "settings/webhooks/<uuid:endpoint_id>/",
        settings_webhooks.settings_webhook_edit,
        name="settings-webhook-edit",
    ),
    path(
        "settings/webhooks/<uuid:endpoint_id>/rotate/",
        settings_webhooks.settings_webhook_rotate,
        name="settings-webhook-rotate",
    ),
    path(
        "settings/webhooks/<uuid:endpoint_id>/delete/",
        settings_webhooks.settings_webhook_delete,
        name="settings-webhook-delete",
    ),
    path(
        "settings/webhooks/deliveries/<uuid:delivery_id>/redeliver/",
        settings_webhooks.settings_webhook_redeliver,
        name="settings-webhook-redeliver",
    ),
    path("settings/schedules/", settings_schedules.settings_schedules, name="settings-schedules"),
    path(
        "settings/schedules/new/",
        settings_schedules.settings_schedule_new,
        name="settings-schedule-new",
    ),
    path(
        "settings/schedules/<uuid:schedule_id>/",
        settings_schedules.settings_schedule_edit,
        name="settings-schedule-edit",
    ),
    path(
        "settings/schedules/<uuid:schedule_id>/delete/",
        settings_schedules.settings_schedule_delete,
        name="settings-schedule-delete",
    ),
]
