"""Hostile and clumsy input gets a clear 4xx in the one error shape, never a 500
(SPEC §6.5)."""

import json

import pytest
from django.test import override_settings

from jobs.models import Job

JOBS = "/api/v1/jobs/"


def error_of(response):
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"}
    assert body["detail"] and body["code"]
    return body


def test_a_validation_error_names_each_field(operator_client, greet):
    response = operator_client.post(
        JOBS, {"template": "greet", "variables": {"times": "many", "colour": "red"}}, format="json"
    )
    assert response.status_code == 400
    body = error_of(response)
    assert body["code"] == "invalid"
    assert body["errors"] == {
        "variables.colour": ["unknown variable"],
        "variables.times": ["expected an integer, got 'many'"],
    }
    assert Job.objects.count() == 0


@override_settings(JOBSITE_API_MAX_BODY_BYTES=10_000)
def test_a_huge_body_is_413(operator_client, greet):
    body = json.dumps({"template": "greet", "name": "x" * 20_000})
    response = operator_client.generic("POST", JOBS, body, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"


def test_a_body_past_the_default_limit_of_one_mib_is_413(operator_client, greet):
    body = json.dumps({"template": "greet", "variables": {"who": "x" * (1024 * 1024)}})
    response = operator_client.generic("POST", JOBS, body, content_type="application/json")
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"]
)
def test_a_body_in_another_content_type_is_415(operator_client, greet, content_type):
    response = operator_client.generic("POST", JOBS, "template=greet", content_type=content_type)
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_refused(operator_client, greet, depth):
    body = '{"template": "greet", "variables": {"who": ' + "[" * depth + "]" * depth + "}}"
    response = operator_client.generic("POST", JOBS, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in error_of(response)["detail"]


def test_bad_utf8_is_refused(operator_client, greet):
    response = operator_client.generic(
        "POST", JOBS, b'{"template": "gr\xffeet"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "UTF-8" in error_of(response)["detail"]


@pytest.mark.parametrize(
    "body",
    ['{"template": ', "[1, 2]", '"greet"', "null", '{"template": "greet", "variables": NaN}'],
)
def test_malformed_or_non_object_json_is_400(operator_client, greet, body):
    response = operator_client.generic("POST", JOBS, body, content_type="application/json")
    assert response.status_code == 400
    error_of(response)


def test_unknown_fields_are_refused_not_ignored(operator_client, greet):
    response = operator_client.post(
        JOBS, {"template": "greet", "varibles": {"who": "x"}}, format="json"
    )
    assert response.status_code == 400
    assert list(error_of(response)["errors"]) == ["varibles"]


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"template": "greet", "start": "yes"}, "start"),
        ({"template": 7}, "template"),
        ({"template": "greet", "variables": [1]}, "variables"),
        ({"template": "greet", "params": {"hello": 3}}, "params.hello"),
        ({"template": "greet", "callback_url": "not a url"}, "callback_url"),
        ({"template": "greet", "recipe": {"steps": []}}, "template"),
        ({}, "template"),
    ],
)
def test_wrongly_typed_fields_are_400_naming_the_field(admin_client, greet, payload, field):
    response = admin_client.post(JOBS, payload, format="json")
    assert response.status_code == 400
    assert field in error_of(response)["errors"]


def test_an_unknown_api_path_is_a_json_404(admin_client):
    response = admin_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_method_the_endpoint_does_not_have_is_405(admin_client):
    response = admin_client.patch(JOBS, {}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_bad_query_parameters_are_400_not_500(viewer_client):
    for query in (
        "limit=abc",
        "limit=0",
        "limit=100000",
        "status=exploded",
        "cursor=%%%",
        "created_after=yesterday",
        "trigger=fax",
        "created_before=",
        "status=draft&status=queued",
    ):
        response = viewer_client.get(f"{JOBS}?{query}")
        assert response.status_code == 400, query
        error_of(response)


def test_an_unexpected_error_is_a_bare_500_without_a_trace(admin_client, greet, monkeypatch):
    from jobs.api import jobs_views

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(jobs_views, "create_jobs", explode)
    response = admin_client.post(JOBS, {"template": "greet"}, format="json")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert b"secret internals" not in response.content


BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


@pytest.mark.parametrize(
    "source",
    [
        "slug: x\nname: x\nsteps: []\n" + BOMB,  # 9^9 values from a few hundred bytes
        "&a [*a]",  # an alias inside itself
        "[" * 50_000 + "]" * 50_000,  # deeper than the YAML parser can recurse
        "{" * 5_000,  # the same, looking like JSON
    ],
    ids=["alias-bomb", "self-alias", "deep-yaml", "deep-json"],
)
def test_an_explosive_template_source_is_a_quick_400(admin_client, source):
    response = admin_client.post("/api/v1/templates/", {"source": source}, format="json")
    assert response.status_code == 400
    assert list(error_of(response)["errors"]) == ["source"]
