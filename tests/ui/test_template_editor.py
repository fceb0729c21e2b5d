"""The template editor: admins only, the API's validation with each problem at its line,
a preview, save → a new version, diffs and restore."""

import pytest

from templates_app.models import JobTemplate
from tests.jobs.helpers import make_template

pytestmark = pytest.mark.django_db

GOOD = """slug: nightly
name: Nightly
variables:
  days: {type: integer, default: 7, min: 1, max: 30}
steps:
  - id: fetch
    type: shell
    with: {script: "echo fetch"}
  - id: send
    type: shell
    needs: [fetch]
    with: {script: "echo send"}
"""


def test_only_admins_may_open_or_use_the_editor(operator_client, viewer_client, workspace):
    make_template(workspace, GOOD)
    for client in (operator_client, viewer_client):
        assert client.get("/templates/-/new/").status_code == 403
        assert client.get("/templates/nightly/edit/").status_code == 403
        assert client.post("/templates/-/check/", {"source": GOOD}).status_code == 403
        assert (
            client.post(
                "/templates/-/new/", {"source": GOOD.replace("nightly", "other")}
            ).status_code
            == 403
        )
        assert client.get("/templates/nightly/versions/").status_code == 403
    assert not JobTemplate.objects.filter(slug="other").exists()
    assert (
        "/templates/nightly/edit/"
        not in operator_client.get("/templates/nightly/").content.decode()
    )


def test_the_check_shows_each_problem_at_its_line(admin_client):
    bad = GOOD.replace("min: 1, max: 30", "min: 40, max: 30").replace(
        "needs: [fetch]", "needs: [nope]"
    )
    html = admin_client.post(
        "/templates/-/check/", {"source": bad}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "2 problems" in html
    assert 'data-line="4"' in html and "variables.days.min" in html  # min > max, on line 4
    assert 'data-line="11"' in html and "unknown step &#x27;nope&#x27;" in html
    assert "<html" not in html
    broken = admin_client.post(
        "/templates/-/check/", {"source": "slug: x\nname: [oops\n"}
    ).content.decode()
    assert "Line 3" in broken and "invalid YAML" in broken


def test_a_valid_source_previews_the_start_form_and_the_graph(admin_client):
    html = admin_client.post("/templates/-/check/", {"source": GOOD}).content.decode()
    assert "Valid" in html and 'name="var-days"' in html and 'value="7"' in html
    assert "<code>nightly</code>" in html and "send needs fetch" in html  # the graph's edge


def test_create_edit_and_restore_make_new_versions(admin_client, workspace):
    response = admin_client.post("/templates/-/new/", {"source": GOOD})
    assert response.status_code == 302 and response["Location"] == "/templates/nightly/"
    template = JobTemplate.objects.get(slug="nightly", workspace=workspace)
    assert template.current_version.number == 1
    again = admin_client.post("/templates/-/new/", {"source": GOOD})
    assert again.status_code == 400 and "exists already" in again.content.decode()
    edited = GOOD.replace("echo send", "echo sent")
    assert admin_client.post("/templates/nightly/edit/", {"source": edited}).status_code == 302
    renamed = admin_client.post(
        "/templates/nightly/edit/", {"source": edited.replace("slug: nightly", "slug: daily")}
    )
    assert renamed.status_code == 400 and "cannot change" in renamed.content.decode()
    template.refresh_from_db()
    assert template.current_version.number == 2
    diff = admin_client.get("/templates/nightly/versions/?a=1&b=2").content.decode()
    assert '<span class="diff-del">-    with: {script: &quot;echo send&quot;}</span>' in diff
    assert '<span class="diff-add">+    with: {script: &quot;echo sent&quot;}</span>' in diff
    restored = admin_client.post("/templates/nightly/versions/1/restore/", follow=True)
    assert b"Version 1 restored as version 3." in restored.content
    template.refresh_from_db()
    assert template.current_version.number == 3 and template.current_version.source == GOOD
    assert 'data-confirm="Restore version 2?' in restored.content.decode()


def test_a_bad_save_keeps_what_was_typed_and_says_what_is_wrong(admin_client):
    bad = GOOD.replace("type: shell", "type: nope", 1)
    response = admin_client.post("/templates/-/new/", {"source": bad})
    html = response.content.decode()
    assert response.status_code == 400 and "type: nope" in html and "unknown step type" in html
    assert 'aria-invalid="true"' in html
    assert not JobTemplate.objects.filter(slug="nightly").exists()


def test_a_template_named_new_keeps_its_own_page(admin_client, workspace):
    make_template(
        workspace,
        GOOD.replace("slug: nightly", "slug: new").replace("name: Nightly", "name: Brand new"),
    )
    assert b"Brand new" in admin_client.get("/templates/new/").content
