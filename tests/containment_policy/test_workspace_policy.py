"""The workspace's containment settings (staff only) as templates and steps meet them:
allowed step types and the limits a step runs with (SPEC §13, issue 11 items 4 and 7)."""

import pytest
from rest_framework.test import APIClient

from jobs.executors.shell import ShellExecutor
from jobs.models import Job
from jobs.services import JobValidationError, create_job
from jobsite.models import Role
from tests.jobs.helpers import make_template

SHELL_AND_HTTP = """
slug: mixed
name: Mixed
steps:
  - id: build
    type: shell
    with: {command: ["true"]}
  - id: ping
    type: http
    with: {url: "https://example.invalid/"}
"""

LIMITED = """
slug: limited
name: Limited
steps:
  - id: only
    type: shell
    with: {command: ["true"]}
settings:
  limits: {memory_mb: 256, cpu_seconds: 30}
"""


def admin_client(api_key, workspace):
    raw = api_key(Role.ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def post_template(client, source):
    return client.post("/api/v1/templates/", {"source": source}, format="json")


def test_a_template_using_a_step_type_the_workspace_forbids_is_refused_naming_the_step_and_the_type(
    workspace, api_key
):
    workspace.allowed_step_types = ["http", "noop"]
    workspace.save(update_fields=["allowed_step_types"])
    response = post_template(admin_client(api_key, workspace), SHELL_AND_HTTP)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["steps.build.type"]
    assert (
        "step type 'shell' is not allowed in this workspace (allowed: http, noop"
        in errors["steps.build.type"][0]
    )


def test_an_inline_recipe_with_a_forbidden_type_is_refused_the_same_way(workspace, api_key):
    workspace.allowed_step_types = ["noop"]
    workspace.save(update_fields=["allowed_step_types"])
    recipe = {
        "steps": [
            {"id": "build", "type": "shell", "with": {"command": ["true"]}},
            {"id": "ping", "type": "http", "with": {"url": "https://example.invalid/"}},
        ]
    }
    response = admin_client(api_key, workspace).post(
        "/api/v1/jobs/", {"recipe": recipe}, format="json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert "not allowed in this workspace" in errors["recipe.steps.build.type"][0]
    assert "not allowed in this workspace" in errors["recipe.steps.ping.type"][0]


def test_an_empty_list_allows_every_type_and_another_workspace_is_not_affected(
    workspace, other_workspace, api_key
):
    other_workspace.allowed_step_types = ["noop"]
    other_workspace.save(update_fields=["allowed_step_types"])
    assert post_template(admin_client(api_key, workspace), SHELL_AND_HTTP).status_code == 201


def test_jobs_created_before_staff_forbid_a_type_still_run_but_no_new_job_of_it_starts(
    workspace, run_tasks
):
    template = make_template(
        workspace,
        SHELL_AND_HTTP.replace(
            'type: http\n    with: {url: "https://example.invalid/"}', "type: noop"
        ),
    )
    existing = create_job(workspace, template=template)
    workspace.allowed_step_types = ["noop"]
    workspace.save(update_fields=["allowed_step_types"])
    run_tasks()
    existing.refresh_from_db()
    assert existing.status == "succeeded"
    with pytest.raises(JobValidationError) as refused:
        create_job(workspace, template=template)
    assert "step build uses type 'shell', which this workspace does not allow" in str(
        refused.value.errors
    )
    assert Job.objects.count() == 1


def test_a_limit_above_the_workspace_ceiling_is_refused_naming_the_field_and_the_ceiling(
    workspace, api_key
):
    workspace.memory_mb = 128
    workspace.save(update_fields=["memory_mb"])
    response = post_template(admin_client(api_key, workspace), LIMITED)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "settings.limits.memory_mb": [
            "must be at most 128 (this workspace's memory_mb, set by server staff)"
        ]
    }


def test_a_limit_above_the_server_cap_is_refused_naming_the_setting(workspace, api_key, settings):
    settings.JOBSITE_MAX_CPU_SECONDS = 20
    response = post_template(admin_client(api_key, workspace), LIMITED)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "settings.limits.cpu_seconds": ["must be at most 20 (the server's JOBSITE_MAX_CPU_SECONDS)"]
    }


def test_malformed_limits_are_refused_naming_each_field(workspace, api_key):
    source = LIMITED.replace(
        "{memory_mb: 256, cpu_seconds: 30}", "{memory_mb: -1, cpu_seconds: 1.5, disk_mb: 3}"
    )
    errors = post_template(admin_client(api_key, workspace), source).json()["errors"]
    assert errors["settings.limits.memory_mb"] == ["must be a whole number of MB greater than 0"]
    assert errors["settings.limits.cpu_seconds"] == [
        "must be a whole number of CPU seconds greater than 0"
    ]
    assert "unknown key 'disk_mb'" in errors["settings.limits.disk_mb"][0]


@pytest.fixture
def seen_policies(monkeypatch):
    """The sandbox policy each shell step was handed (the sandbox itself is branch
    `sandbox`'s; here we see what the engine asks of it)."""
    seen = []
    real_run = ShellExecutor.run

    def recording_run(self, ctx):
        seen.append(ctx.sandbox)
        return real_run(self, ctx)

    monkeypatch.setattr(ShellExecutor, "run", recording_run)
    return seen


def test_a_step_runs_with_the_template_limits_within_the_workspace_defaults(
    workspace, run_tasks, seen_policies
):
    workspace.memory_mb, workspace.max_processes, workspace.step_network = 512, 64, "none"
    workspace.save(update_fields=["memory_mb", "max_processes", "step_network"])
    create_job(workspace, template=make_template(workspace, LIMITED))
    run_tasks()
    (policy,) = seen_policies
    assert policy.network == "none"
    assert (policy.limits.memory_mb, policy.limits.cpu_seconds, policy.limits.max_processes) == (
        256,
        30,
        64,
    )


def test_staff_lowering_a_limit_after_a_template_was_saved_lowers_it_for_new_steps(
    workspace, run_tasks, seen_policies, settings
):
    template = make_template(workspace, LIMITED)
    workspace.memory_mb = 100
    workspace.save(update_fields=["memory_mb"])
    settings.JOBSITE_MAX_CPU_SECONDS = 10
    create_job(workspace, template=template)
    run_tasks()
    (policy,) = seen_policies
    assert (policy.network, policy.limits.memory_mb, policy.limits.cpu_seconds) == ("host", 100, 10)


def test_workspace_admins_cannot_change_the_containment_settings_through_the_api(
    workspace, api_key
):
    workspace.step_network, workspace.allowed_step_types = "none", ["noop"]
    workspace.save(update_fields=["step_network", "allowed_step_types"])
    client = admin_client(api_key, workspace)
    for method in (client.patch, client.put, client.post):
        response = method(
            "/api/v1/workspace/", {"step_network": "host", "allowed_step_types": []}, format="json"
        )
        assert response.status_code == 405, response.content
    assert "step_network" not in client.get("/api/v1/workspace/").json()
    workspace.refresh_from_db()
    assert (workspace.step_network, workspace.allowed_step_types) == ("none", ["noop"])


@pytest.fixture
def staff_client(client, db):
    from django.contrib.auth import get_user_model

    client.force_login(
        get_user_model().objects.create_superuser("staff", "staff@example.invalid", "pw")
    )
    return client


def test_staff_set_a_workspaces_containment_in_the_admin_and_templates_follow_it(
    staff_client, workspace
):
    page = staff_client.get(f"/admin/jobsite/workspace/{workspace.pk}/change/")
    assert b"Step containment" in page.content and b'value="shell"' in page.content
    form = {
        "name": workspace.name, "slug": workspace.slug, "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
        "step_network": "none", "allowed_step_types": ["noop", "http"], "memory_mb": "300", "storage_quota_mb": "50",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = staff_client.post(f"/admin/jobsite/workspace/{workspace.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    workspace.refresh_from_db()
    assert (
        workspace.step_network,
        workspace.allowed_step_types,
        workspace.memory_mb,
        workspace.storage_quota_mb,
    ) == (
        "none",
        ["http", "noop"],
        300,
        50,
    )
    refused = staff_client.post(
        "/admin/templates_app/jobtemplate/add/",
        {"workspace": workspace.pk, "source": SHELL_AND_HTTP},
    )
    assert (
        b"steps.build.type: step type &#x27;shell&#x27; is not allowed in this workspace"
        in refused.content
    )


def test_a_misspelt_step_type_cannot_be_saved_as_allowed(staff_client, workspace):
    form = {
        "name": workspace.name, "slug": workspace.slug, "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
        "step_network": "host", "allowed_step_types": ["shel"],
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = staff_client.post(f"/admin/jobsite/workspace/{workspace.pk}/change/", form)
    assert (
        response.status_code == 200
        and b"Select a valid choice. shel is not one of the available choices" in response.content
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("lots", "JOBSITE_MAX_MEMORY_MB='lots' is not an integer"),
        ("0", "JOBSITE_MAX_MEMORY_MB=0 must be a whole number greater than 0"),
        ("-5", "JOBSITE_MAX_MEMORY_MB=-5 must be a whole number greater than 0"),
    ],
)
def test_a_bad_server_cap_names_the_variable(monkeypatch, raw, message):
    from django.core.exceptions import ImproperlyConfigured

    from jobsite.env import env_positive_int

    monkeypatch.setenv("JOBSITE_MAX_MEMORY_MB", raw)
    with pytest.raises(ImproperlyConfigured) as bad:
        env_positive_int("JOBSITE_MAX_MEMORY_MB", 16384)
    assert str(bad.value) == message
