"""The jobs app's models: runs (jobs.py) and automation (automation.py: webhooks and
schedules) and uploads (uploads.py). Importing this package registers all of them with Django."""

from jobs.models.automation import (
    NOTIFICATION_EVENTS,
    WEBHOOK_EVENTS,
    ChannelKind,
    DeliveryAttempt,
    DeliveryStatus,
    NotificationChannel,
    NotificationDelivery,
    Schedule,
    WebhookDelivery,
    WebhookEndpoint,
    new_webhook_secret,
)
from jobs.models.jobs import (
    Artifact,
    EventKind,
    IdempotencyRecord,
    Job,
    JobEvent,
    StepRun,
    Trigger,
    WorkerHost,
    artifact_upload_to,
)
from jobs.models.uploads import Upload

__all__ = [
    "NOTIFICATION_EVENTS",
    "ChannelKind",
    "NotificationChannel",
    "NotificationDelivery",
    "WEBHOOK_EVENTS",
    "Artifact",
    "DeliveryAttempt",
    "DeliveryStatus",
    "EventKind",
    "IdempotencyRecord",
    "Job",
    "JobEvent",
    "Schedule",
    "StepRun",
    "Trigger",
    "Upload",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerHost",
    "artifact_upload_to",
    "new_webhook_secret",
]
