"""OpenAPI post-processing (drf-spectacular POSTPROCESSING_HOOKS)."""

WORKSPACE_HEADERS = [
    {
        "in": "header",
        "name": "X-Workspace-Slug",
        "schema": {"type": "string"},
        "description": "The workspace to act in. Optional with an API key (it has one workspace; "
        "naming another is a 403); required for a logged-in user who belongs to several.",
    },
    {
        "in": "header",
        "name": "X-Workspace-Id",
        "schema": {"type": "string", "format": "uuid"},
        "description": "The workspace to act in, by id (see X-Workspace-Slug).",
    },
]


def add_workspace_headers_and_strict_bodies(result, generator, request, public):
    """Every /api/v1/ operation takes the workspace headers; request bodies refuse fields
    they do not declare (the API answers 400 for them)."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            operation.setdefault("parameters", []).extend(
                dict(header) for header in WORKSPACE_HEADERS if header["name"] not in names
            )
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    return result


from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "jobsite.api_auth.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer jsk_…`."},
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key: `X-API-Key: jsk_…`."},
        ]

    def get_security_requirement(self, auto_schema):
        return [{"BearerAuth": []}, {"ApiKeyAuth": []}]


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "jobsite.api_auth.SessionAuthentication"
    name = "SessionAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "A logged-in session (browsable API)."}
