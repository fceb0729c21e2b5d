"""templates/ endpoints (SPEC §6.2): reading, the variable schema, dry runs, and the
admin's create / update / archive / trigger key."""

import textwrap

from jobs.models import Job
from jobsite.models import hash_key
from templates_app.models import JobTemplate

TEMPLATES = "/api/v1/templates/"

NEW = textwrap.dedent(
    """
    slug: cleanup
    name: Cleanup
    type: maintenance
    variables:
      days: {type: integer, default: 7, min: 1}
    steps:
      - id: sweep
        type: noop
    """
)


def test_the_list_summarizes_templates_with_their_variables(viewer_client, greet):
    response = viewer_client.get(TEMPLATES)
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["slug"] == "greet" and item["version"] == 1 and item["type"] == "demo"
    assert item["variables"] == [
        {
            "name": "who",
            "type": "string",
            "required": False,
            "description": "Whom to greet.",
            "default": "world",
        },
        {"name": "times", "type": "integer", "required": False, "description": "", "default": 1},
        {"name": "token", "type": "secret", "required": False, "description": "", "default": "***"},
    ]
    assert item["trigger_url_enabled"] is True
    assert item["links"]["schema"].endswith(f"/api/v1/templates/{greet.pk}/schema/")


def test_a_template_reads_by_slug_or_id_with_steps_and_settings_and_no_secret_default(
    viewer_client, admin_client, greet
):
    by_slug = viewer_client.get(f"{TEMPLATES}greet/").json()
    by_id = viewer_client.get(f"{TEMPLATES}{greet.pk}/").json()
    assert by_slug == by_id
    assert [step["id"] for step in by_slug["steps"]] == ["hello", "report"]
    assert by_slug["settings"]["trigger_url"] == {"enabled": True}
    assert by_slug["variables"]["token"]["default"] == "***"
    assert by_slug["source"] is None  # viewers do not see the source with the secret default in it
    assert "s3cret-value" not in str(by_slug)
    assert "s3cret-value" in admin_client.get(f"{TEMPLATES}greet/").json()["source"]
    assert viewer_client.get(f"{TEMPLATES}nope/").status_code == 404


def test_the_schema_is_json_schema_of_variables_and_params(viewer_client, greet):
    response = viewer_client.get(f"{TEMPLATES}greet/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["template"] == {"id": str(greet.pk), "slug": "greet", "version": 1}
    variables = schema["variables"]
    assert variables["additionalProperties"] is False
    assert variables["properties"]["times"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 1,
    }
    assert "default" not in variables["properties"]["token"]
    assert schema["params"]["properties"] == {}


def test_validate_is_a_dry_run_that_creates_nothing(viewer_client, greet):
    ok = viewer_client.post(
        f"{TEMPLATES}greet/validate/", {"variables": {"who": "ann", "token": "x"}}, format="json"
    )
    assert ok.status_code == 200
    assert ok.json() == {
        "valid": True,
        "errors": {},
        "variables": {"who": "ann", "times": 1, "token": "***"},
        "params": {},
    }
    bad = viewer_client.post(
        f"{TEMPLATES}greet/validate/", {"variables": {"times": 9, "x": 1}}, format="json"
    )
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["errors"] == {
        "variables.x": ["unknown variable"],
        "variables.times": ["must be at most 5"],
    }
    assert Job.objects.count() == 0


def test_an_admin_creates_a_template_from_yaml_in_json_or_as_the_raw_body(admin_client, workspace):
    response = admin_client.post(TEMPLATES, {"source": NEW}, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["slug"] == "cleanup" and created["version"] == 1
    assert response["Location"].endswith(f"/api/v1/templates/{created['id']}/")
    raw = admin_client.generic(
        "POST", TEMPLATES, NEW.replace("cleanup", "cleanup-two"), content_type="application/yaml"
    )
    assert raw.status_code == 201
    as_object = admin_client.post(
        TEMPLATES,
        {"definition": {"slug": "tiny", "name": "Tiny", "steps": [{"id": "a", "type": "noop"}]}},
        format="json",
    )
    assert as_object.status_code == 201
    assert JobTemplate.objects.filter(workspace=workspace).count() == 3


def test_a_slug_that_exists_is_409(admin_client, greet):
    response = admin_client.post(
        TEMPLATES,
        {"source": "slug: greet\nname: Again\nsteps: [{id: a, type: noop}]"},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "exists"


def test_an_invalid_template_lists_every_problem_by_field(admin_client):
    source = textwrap.dedent(
        """
        slug: Bad Slug
        name: Bad
        variables:
          days: {type: integr}
        steps:
          - id: a
            type: teleport
          - id: b
            type: shell
            needs: [a, ghost]
            with: {script: "echo {{ vars.days }}"}
        """
    )
    response = admin_client.post(TEMPLATES, {"source": source}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "slug" in errors
    assert "variables.days.type" in errors
    assert any("teleport" in " ".join(messages) for messages in errors.values())
    assert any("ghost" in " ".join(messages) for messages in errors.values())
    assert any(key.startswith("steps.b.with.script") for key in errors)


def test_put_creates_a_new_version_and_old_jobs_keep_theirs(admin_client, greet):
    from jobs.services import create_job

    old_job = create_job(greet.workspace, template=greet, start=False)
    source = NEW.replace("cleanup", "greet").replace("Cleanup", "Greet v2")
    response = admin_client.put(f"{TEMPLATES}greet/", {"source": source}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["name"] == "Greet v2"
    old_job.refresh_from_db()
    assert old_job.template_version.number == 1
    new_job = admin_client.post(
        "/api/v1/jobs/", {"template": "greet", "start": False}, format="json"
    ).json()
    assert new_job["template"]["version"] == 2


def test_put_cannot_change_the_slug(admin_client, greet):
    response = admin_client.put(f"{TEMPLATES}greet/", {"source": NEW}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["slug"]


def test_delete_archives_a_template(admin_client, viewer_client, greet):
    assert admin_client.delete(f"{TEMPLATES}greet/").status_code == 204
    assert viewer_client.get(TEMPLATES).json()["results"] == []
    assert [
        t["slug"] for t in viewer_client.get(f"{TEMPLATES}?archived=true").json()["results"]
    ] == ["greet"]
    assert viewer_client.get(f"{TEMPLATES}greet/").json()["archived_at"] is not None


def test_an_admin_issues_a_trigger_key_shown_once_and_stored_hashed(admin_client, greet, workspace):
    response = admin_client.post(f"{TEMPLATES}greet/trigger-key/")
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("jtk_")
    assert response.json()["trigger_url"] == "http://testserver/api/hooks/acme/greet/trigger/"
    greet.refresh_from_db()
    assert greet.trigger_key_hash == hash_key(key)
    assert key not in str(admin_client.get(f"{TEMPLATES}greet/").json())
    assert admin_client.get(f"{TEMPLATES}greet/").json()["trigger_url"]["has_key"] is True


def test_a_trigger_key_for_a_template_without_trigger_url_is_409(admin_client, flaky):
    response = admin_client.post(f"{TEMPLATES}flaky/trigger-key/")
    assert response.status_code == 409
    assert response.json()["code"] == "trigger_url_disabled"
