"""OpenAPI post-processing (drf-spectacular POSTPROCESSING_HOOKS)."""

WORKSPACE_HEADERS = [
    {
        "in": "header",
        "name": "X-Workspace-Slug",
        "schema": {"type": "string", "minLength": 1},
        "description": "The workspace to act in. Optional with an API key (it has one workspace; "
        "naming another is a 403); required for a logged-in user who belongs to several.",
    },
    {
        "in": "header",
        "name": "X-Workspace-Id",
        # A plain string, not `format: uuid`: generated clients would type it as a UUID
        # object, which HTTP libraries refuse as a header value.
        "schema": {"type": "string", "minLength": 1},
        "description": "The workspace to act in, by its id (a UUID; see X-Workspace-Slug).",
    },
]


# What a created object's id leads to (OpenAPI links: clients and fuzzers can follow them).
LINKS = {
    ("jobs_create", "jobs_rerun"): (
        "job_id",
        [
            "jobs_retrieve",
            "jobs_status",
            "jobs_events",
            "jobs_logs",
            "jobs_result",
            "jobs_artifacts_list",
            "jobs_run",
            "jobs_cancel",
            "jobs_rerun",
        ],
    ),
    ("templates_create",): (
        "template_ref",
        [
            "templates_retrieve",
            "templates_schema",
            "templates_validate",
            "templates_update",
            "templates_trigger_key",
            "templates_archive",
        ],
    ),
    ("keys_create",): ("key_id", ["keys_retrieve", "keys_revoke"]),
    ("webhooks_create",): (
        "webhook_id",
        [
            "webhooks_retrieve",
            "webhooks_update",
            "webhooks_rotate_secret",
            "webhooks_deliveries_list",
            "webhooks_delete",
        ],
    ),
    ("schedules_create",): (
        "schedule_id",
        ["schedules_retrieve", "schedules_update", "schedules_delete"],
    ),
    ("notifications_create",): (
        "channel_id",
        ["notifications_retrieve", "notifications_update", "notifications_delete"],
    ),
}


def _add_links(operation):
    for sources, (parameter, targets) in LINKS.items():
        if operation.get("operationId") in sources:
            response = operation["responses"].get("201")
            if response is not None:
                response["links"] = {
                    target: {"operationId": target, "parameters": {parameter: "$response.body#/id"}}
                    for target in targets
                }


def add_workspace_headers_and_strict_bodies(result, generator, request, public):
    """Every /api/v1/ operation takes the workspace headers; request bodies refuse fields
    they do not declare (the API answers 400 for them); creations link to what their id
    leads to."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _add_links(operation)
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            operation.setdefault("parameters", []).extend(
                dict(header) for header in WORKSPACE_HEADERS if header["name"] not in names
            )
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if (
            name.endswith("Request")
            and "properties" in schema
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
    return result


from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "jobsite.api.auth.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: `Authorization: Bearer jsk_…`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "An API key: `X-API-Key: jsk_…`.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        return [{"BearerAuth": []}, {"ApiKeyAuth": []}]


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "jobsite.api.auth.SessionAuthentication"
    name = "SessionAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A logged-in session (browsable API).",
        }
