"""NUL characters and lone surrogates in any text input: a 400 naming the field, nothing
stored, on SQLite and on PostgreSQL (run this file with JOBSITE_TEST_DATABASE_URL set as
DATABASE_URL, as `make test-postgres` does). Issue 12 found 6 of 14 such probes
answering 500 on PostgreSQL."""

import json
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from jobs.models import Job, Schedule, WebhookEndpoint
from jobsite.models import ApiKey, Membership, Role
from templates_app.models import JobTemplate
from tests.api.conftest import GREET
from tests.jobs.helpers import make_template

NUL = "a\x00b"
SURROGATE = "a\ud800b"

TEMPLATE_WITH = """
slug: {slug}
name: {name}
description: {description}
steps:
  - {{id: a, type: noop}}
"""


def json_body(data):
    # json.dumps escapes both as \\u0000 and \\ud800: what a client really sends.
    return json.dumps(data)


@pytest.fixture
def greet(workspace):
    return make_template(workspace, GREET)


@pytest.fixture
def ui(workspace):
    user = get_user_model().objects.create_user("uiadmin", password="pw")
    Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


def json_probes(bad):
    """(name, method, path, body, field) for JSON bodies of the API."""
    return [
        ("job variables", "post", "/api/v1/jobs/", {"template": "greet", "variables": {"who": bad}}, "variables.who"),
        ("variable name", "post", "/api/v1/jobs/", {"template": "greet", "variables": {bad: "x"}}, "variables"),
        ("job name", "post", "/api/v1/jobs/", {"template": "greet", "name": bad}, "name"),
        (
            "recipe outputs", "post", "/api/v1/jobs/",
            {"recipe": {"steps": [{"id": "a", "type": "noop", "with": {"outputs": {"k": bad}}}]}},
            "recipe.steps[0].with.outputs.k",
        ),
        ("template name", "post", "/api/v1/templates/", {"source": TEMPLATE_WITH.format(slug="t1", name=bad, description="d")}, "source"),
        ("template description", "post", "/api/v1/templates/", {"source": TEMPLATE_WITH.format(slug="t2", name="n", description=bad)}, "source"),
        ("validate", "post", "/api/v1/templates/greet/validate/", {"variables": {"who": bad}}, "variables.who"),
        ("schedule variables", "post", "/api/v1/schedules/", {"template": "greet", "cron": "0 3 * * *", "variables": {"who": bad}}, "variables.who"),
        ("schedule name", "post", "/api/v1/schedules/", {"template": "greet", "cron": "0 3 * * *", "name": bad}, "name"),
        ("schedule cron", "post", "/api/v1/schedules/", {"template": "greet", "cron": "0 3 * * *" + bad}, "cron"),
        ("webhook description", "post", "/api/v1/webhooks/", {"url": "https://example.com/h", "description": bad}, "description"),
        ("key name", "post", "/api/v1/keys/", {"name": bad, "role": "viewer"}, "name"),
        ("trigger JSON body", "post", "/api/hooks/acme/greet/trigger/", {"who": bad}, "who"),
    ]  # fmt: skip


def nothing_was_stored():
    assert not Job.objects.exists()
    assert not Schedule.objects.exists()
    assert not WebhookEndpoint.objects.exists()
    assert JobTemplate.objects.count() == 1  # greet
    assert ApiKey.objects.count() == 1  # the client's own


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_unstorable_text_in_a_json_body_is_a_400_naming_the_field(
    admin_client, greet, admin_user, bad
):
    key = admin_client.post("/api/v1/templates/greet/trigger-key/").json()["key"]
    for name, method, path, body, field in json_probes(bad):
        headers = {"HTTP_X_TRIGGER_KEY": key} if "/hooks/" in path else {}
        response = getattr(admin_client, method)(
            path, json_body(body), content_type="application/json", **headers
        )
        assert response.status_code == 400, (name, response.status_code, response.content[:300])
        if "/hooks/" in path:  # the trigger URL answers plain text, one line per field
            assert f"\n{field}: " in response.content.decode(), (name, response.content)
        else:
            assert field in response.json()["errors"], (name, response.json())
    nothing_was_stored()


def test_a_nul_in_a_raw_yaml_body_is_a_400_naming_the_source(admin_client, greet):
    response = admin_client.post(
        "/api/v1/templates/",
        TEMPLATE_WITH.format(slug="t3", name=NUL, description="d"),
        content_type="application/yaml",
    )
    assert response.status_code == 400 and "source" in response.json()["errors"]
    nothing_was_stored()


def test_a_nul_in_the_trigger_url_query_or_form_is_a_400_naming_the_field(admin_client, greet):
    key = admin_client.post("/api/v1/templates/greet/trigger-key/").json()["key"]
    anonymous = APIClient()
    in_query = anonymous.get(f"/api/hooks/acme/greet/trigger/?key={key}&who=a%00b")
    # The trigger URL answers in plain text, as its schema says: a sentence, then a line
    # per field.
    assert in_query.status_code == 400 and in_query["Content-Type"].startswith("text/plain")
    assert "\nwho: contains a NUL" in in_query.content.decode()
    in_name = anonymous.get(f"/api/hooks/acme/greet/trigger/?key={key}&w%00ho=x")
    assert in_name.status_code == 400
    in_form = anonymous.post(
        f"/api/hooks/acme/greet/trigger/?key={key}",
        "who=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert in_form.status_code == 400 and "\nwho: " in in_form.content.decode()
    in_list_filter = admin_client.get("/api/v1/jobs/?q=a%00b")
    assert in_list_filter.status_code == 400 and "q" in in_list_filter.json()["errors"]
    nothing_was_stored()


def test_a_nul_in_a_page_form_is_a_400_naming_the_field(ui, greet):
    probes = [
        ("/templates/greet/start/", {"who": NUL, "times": "1"}, "who"),
        ("/settings/schedules/new/", {"template": greet.pk, "cron": "0 3 * * *", "timezone": "UTC", "variables": f"who={NUL}"}, "variables"),
        ("/settings/keys/new/", {"name": NUL, "role": "viewer"}, "name"),
        ("/settings/webhooks/new/", {"url": "https://example.com/h", "description": NUL}, "description"),
        ("/jobs/?q=a%00b", None, "q"),
        ("/settings/members/add/", {"username": NUL, "role": "viewer"}, "username"),
        (f"/admin/templates_app/jobtemplate/{greet.pk}/change/", {"source": NUL}, "source"),
    ]  # fmt: skip
    for path, data, field in probes:
        # URL-encoded: what a browser sends for these forms (none of them has a file).
        if data is None:
            response = ui.get(path)
        else:
            response = ui.post(
                path, urlencode(data), content_type="application/x-www-form-urlencoded"
            )
        assert response.status_code == 400, (path, response.status_code)
        assert f"“{field}”" in response.content.decode(), (path, response.content[:300])
    assert (
        not Job.objects.exists()
        and not Schedule.objects.exists()
        and not WebhookEndpoint.objects.exists()
    )


def test_a_nul_in_a_multipart_page_form_is_a_400_naming_the_field(ui, greet):
    # A client may send any page form as multipart/form-data; the views that read
    # request.POST themselves (API key name, member add) used to pass the NUL on.
    probes = [
        ("/settings/keys/new/", {"name": NUL, "role": "viewer"}, "name"),
        ("/settings/members/add/", {"username": NUL, "role": "viewer"}, "username"),
        (
            "/settings/webhooks/new/",
            {"url": "https://example.com/h", "description": NUL},
            "description",
        ),
    ]
    for path, data, field in probes:
        response = ui.post(path, data)  # the test client's default: multipart/form-data
        assert response.status_code == 400, (path, response.status_code)
        assert f"“{field}”" in response.content.decode(), (path, response.content[:300])
    assert ApiKey.objects.count() == 0 and not WebhookEndpoint.objects.exists()


def test_a_multipart_start_form_still_starts_its_job(ui, greet):
    # The start form is marked streams_uploads: the middleware leaves its body to the
    # view, which sets its upload handlers first, and the job starts as before.
    page = ui.get("/templates/greet/").content.decode()
    token = re.search(r'name="submission" value="([^"]+)"', page).group(1)
    response = ui.post("/templates/greet/start/", {"who": "ada", "times": "1", "submission": token})
    assert response.status_code in (302, 303), response.content[:300]
    assert Job.objects.count() == 1
