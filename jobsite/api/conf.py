"""The REST API's DRF and drf-spectacular settings, which jobsite/settings.py takes as
REST_FRAMEWORK and SPECTACULAR_SETTINGS. Plain data: nothing here is imported from
Django or read from the environment."""

API_REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Bearer / X-API-Key first, so a request without credentials is told
    # `WWW-Authenticate: Bearer` (401) rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobsite.api.auth.ApiKeyAuthentication",
        "jobsite.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["jobsite.api.auth.WorkspaceRole"],
    "DEFAULT_THROTTLE_CLASSES": ["jobsite.api.throttling.ClientRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["jobsite.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "jobsite.api.parsers.LenientContentNegotiation",
    "EXCEPTION_HANDLER": "jobsite.api.errors.api_exception_handler",
    "URL_FORMAT_OVERRIDE": None,
}
API_SPECTACULAR_SETTINGS = {
    "TITLE": "jobsite API",
    "DESCRIPTION": (
        "REST API v1 of jobsite. Authenticate with `Authorization: Bearer jsk_…` or "
        "`X-API-Key: jsk_…`; every error has the shape `{detail, code, errors?}`. "
        "See docs/api.md for a walkthrough."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api(/v1)?",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.engine.states.JobStatus",
        "StepStatusEnum": "jobs.engine.states.StepStatus",
        "RoleEnum": "jobsite.models.Role",
        "TriggerEnum": "jobs.models.Trigger",
        "WebhookEventEnum": "jobs.models.automation.WEBHOOK_EVENTS",
        "NotificationEventEnum": "jobs.models.automation.NOTIFICATION_EVENTS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.api.schema.add_workspace_headers_and_strict_bodies",
    ],
}
