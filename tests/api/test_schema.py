"""The OpenAPI 3 schema describes every endpoint and validates; the docs need no CDN."""

import functools
import json
import re

from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from jobs.api.urls import urlpatterns


@functools.cache
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_is_served_as_yaml_by_default(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_the_schema_is_valid_openapi_3_and_generates_without_warnings(db, tmp_path):
    document = schema()
    assert document["openapi"].startswith("3.")
    validate_schema(document)
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_every_v1_url_and_the_trigger_urls_are_in_the_schema(db):
    paths = schema()["paths"]
    for pattern in urlpatterns:
        route = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        assert route in paths, route
    assert "/api/hooks/{workspace_slug}/{template_slug}/trigger/" in paths
    assert "/api/hooks/{workspace_slug}/{template_slug}/jobs/{job_id}/status/" in paths


def test_every_operation_documents_its_errors_in_the_one_error_shape(db):
    document = schema()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path.startswith("/api/v1/"):
                assert {"401", "403", "429"} <= set(responses), (method, path)
                names = {parameter["name"] for parameter in operation["parameters"]}
                assert {"X-Workspace-Slug", "X-Workspace-Id"} <= names
                if "{" in path:
                    assert "404" in responses, (method, path)
                for status, response in responses.items():
                    if status.startswith("4"):
                        assert response["content"]["application/json"]["schema"] == {
                            "$ref": "#/components/schemas/Error"
                        }
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {
        "detail",
        "code",
        "errors",
    }
    assert {"BearerAuth", "ApiKeyAuth"} <= set(document["components"]["securitySchemes"])


def test_swagger_ui_is_served_from_our_own_static_files(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(
        not source.startswith(("http://", "https://", "//")) for source in sources
    ), sources


# What generated clients (openapi-python-client) trip over; the whole run is in
# tests/api/test_generated_client.py (fuzz marker: it installs the generator).


def test_the_schema_answers_json_for_format_json(db):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(response.content)["openapi"].startswith("3.")


def test_the_workspace_id_header_is_a_plain_string_a_client_can_send(db):
    for operations in schema()["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "X-Workspace-Id":
                    assert parameter["schema"] == {"type": "string", "minLength": 1}


def test_an_artifact_download_declares_bytes_first_and_real_content_types(db):
    content = schema()["paths"]["/api/v1/jobs/{job_id}/artifacts/{name}"]["get"]["responses"][
        "200"
    ]["content"]
    assert list(content)[0] == "application/octet-stream"
    assert "*/*" not in content and {"text/csv", "text/plain", "application/json"} <= set(content)


def test_the_result_declares_its_json_variant_first(db):
    content = schema()["paths"]["/api/v1/jobs/{job_id}/result/"]["get"]["responses"]["200"][
        "content"
    ]
    assert list(content) == ["application/json", "text/markdown"]


def test_the_get_trigger_declares_its_variables_as_free_form_query_fields(db):
    parameters = schema()["paths"]["/api/hooks/{workspace_slug}/{template_slug}/trigger/"]["get"][
        "parameters"
    ]
    variables = next(parameter for parameter in parameters if parameter["name"] == "variables")
    assert (
        variables["in"] == "query" and variables["style"] == "form" and variables["explode"] is True
    )
    assert variables["schema"]["additionalProperties"] == {"type": "string"}


def test_no_operation_borrows_a_base_class_docstring_and_hooks_answer_their_own_errors(db):
    document = schema()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert "Base of" not in operation.get("description", ""), operation["operationId"]
    status = document["paths"]["/api/hooks/{workspace_slug}/{template_slug}/jobs/{job_id}/status/"][
        "get"
    ]["responses"]
    # Its own 400 (a query that cannot be stored), not the trigger's "bad variables" one.
    assert "cannot be stored" in status["400"]["description"]
    assert "variables" not in status["400"]["description"]
    assert "no such job" in status["404"]["description"]
