"""The two reads every `POST jobs/` starts with, each one named statement (docs/benchmarks.md
round 4b): the API key with its workspace, and the template by id or slug with its current
version. They must give what the ORM gave: the same instances, nothing read twice, and the
same answers for what is not there."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobsite.models import ApiKey, Role, Workspace
from templates_app.api import find_template
from tests.api.conftest import client_for
from tests.jobs.helpers import make_template

pytestmark = pytest.mark.django_db

NOOP = """
slug: {slug}
name: Noop
steps:
  - {{id: a, type: noop}}
"""


def test_a_key_comes_with_its_whole_workspace(workspace, api_key):
    workspace.retention_days, workspace.default_pool = 30, "gpu"
    workspace.save()
    raw = api_key(Role.ADMIN)
    with CaptureQueriesContext(connection) as captured:
        key = ApiKey.find(raw)
        assert (key.role, key.name, key.workspace.slug) == (Role.ADMIN, "admin-key", "acme")
        assert (key.workspace.retention_days, key.workspace.default_pool) == (30, "gpu")
        assert key.workspace == workspace and key.is_active
    assert len(captured.captured_queries) == 1


def test_a_revoked_expired_or_unknown_key_is_not_found(workspace, api_key):
    revoked, expired = api_key(), api_key()
    ApiKey.find(revoked).revoke()
    ApiKey.objects.filter(pk=ApiKey.find(expired).pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert ApiKey.find(revoked) is None and ApiKey.find(expired) is None
    assert ApiKey.find("jsk_" + "x" * 43) is None and ApiKey.find("") is None


def test_a_template_is_found_by_id_or_slug_with_its_current_version(workspace, other_workspace):
    template = make_template(workspace, NOOP.format(slug="noop"))
    template = make_template(workspace, NOOP.format(slug="noop"))  # version 2
    make_template(other_workspace, NOOP.format(slug="theirs"))
    with CaptureQueriesContext(connection) as captured:
        by_slug, by_id = find_template(workspace, "noop"), find_template(workspace, template.pk)
        for found in (by_slug, by_id):
            assert found == template and found.workspace is workspace
            assert found.current_version.number == 2
            assert found.definition["steps"][0]["id"] == "a"
    assert len(captured.captured_queries) == 2
    assert find_template(workspace, "theirs") is None
    assert find_template(workspace, "missing") is None


def test_an_id_wins_over_a_slug_that_spells_another_templates_id(workspace):
    target = make_template(workspace, NOOP.format(slug="target"))
    impostor = make_template(workspace, NOOP.format(slug=str(target.pk)))
    assert find_template(workspace, str(target.pk)) == target
    assert find_template(workspace, impostor.pk) == impostor


def test_post_jobs_with_a_key_of_another_workspace_names_no_template_of_ours(
    workspace, other_workspace, api_key
):
    make_template(workspace, NOOP.format(slug="ours"))
    client = client_for(api_key(target=other_workspace))
    response = client.post("/api/v1/jobs/", {"template": "ours"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["template"] == ["no such template in this workspace"]
    assert Workspace.objects.count() == 2
