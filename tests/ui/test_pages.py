"""Every page: who may see it, what it shows, and that it never shows another
workspace's objects."""

import re

import pytest
from django.contrib.auth import get_user_model

from jobs.services import create_job
from jobsite.models import Membership, Role
from jobsite.tenancy import SESSION_KEY
from tests.jobs.helpers import make_template
from tests.ui.conftest import TWO_STEPS, client_for

pytestmark = pytest.mark.django_db


def without_csrf(content):
    """A page with its per-render CSRF tokens blanked, to compare two pages."""
    return re.sub(rb'(X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', rb"\1", content)


PAGES = ["/", "/templates/", "/jobs/"]


@pytest.mark.parametrize("url", PAGES + ["/templates/two-steps/", "/settings/members/"])
def test_pages_ask_an_anonymous_visitor_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_login_page_logs_in_and_lands_on_the_dashboard(client, operator_user):
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content
    response = client.post(
        "/login/", {"username": "oscar-operator", "password": "pw-oscar-operator"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_logout_is_a_post_and_ends_the_session(operator_client):
    assert operator_client.post("/logout/").status_code == 302
    assert operator_client.get("/").status_code == 302


@pytest.mark.parametrize("url", ["/login/"] + PAGES)
def test_every_page_sends_a_strict_content_security_policy(admin_client, client, url):
    response = (client if url == "/login/" else admin_client).get(url)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_pages_carry_no_inline_script_or_style(admin_client, workspace, two_steps):
    job = create_job(workspace, template=two_steps, start=False)
    for url in PAGES + ["/templates/two-steps/", f"/jobs/{job.pk}/", "/settings/keys/"]:
        html = admin_client.get(url).content.decode()
        assert "<script>" not in html and " style=" not in html and "<style" not in html, url
        assert " onclick=" not in html and "javascript:" not in html, url


def test_a_user_without_workspace_is_told_so(client, db):
    user = get_user_model().objects.create_user("nobody", password="pw")
    response = client_for(user).get("/")
    assert response.status_code == 403
    assert b"not in any workspace" in response.content


def test_dashboard_empty_workspace_says_what_to_do(operator_client):
    html = operator_client.get("/").content.decode()
    assert "Nothing is running" in html
    assert "No templates in this workspace yet" in html


def test_dashboard_counts_and_lists_active_jobs_with_why_they_wait(
    operator_client, workspace, two_steps
):
    queued = create_job(workspace, template=two_steps, name="waiting one")
    create_job(workspace, template=two_steps, name="a draft", start=False)
    html = operator_client.get("/").content.decode()
    assert "waiting one" in html
    assert "no worker has been seen" in html  # no worker heartbeat in this test
    assert 'hx-trigger="every 1s"' in html  # live while something is active
    live = operator_client.get("/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200
    assert b'id="dashboard-live"' in live.content and b"<html" not in live.content
    assert str(queued.pk).encode() in live.content


def test_dashboard_polls_slowly_when_nothing_is_active(operator_client):
    html = operator_client.get("/").content.decode()
    assert 'hx-trigger="every 3s"' in html


def test_templates_list_shows_only_this_workspaces_templates(
    operator_client, workspace, other_workspace
):
    make_template(workspace, TWO_STEPS)
    make_template(other_workspace, TWO_STEPS.replace("Two steps", "Outsider steps"))
    html = operator_client.get("/templates/").content.decode()
    assert "Two steps" in html and "Outsider steps" not in html


def test_templates_list_empty_state_explains_how_to_add_one(operator_client):
    assert b"No templates yet" in operator_client.get("/templates/").content


def test_template_detail_shows_graph_variables_and_recent_runs(
    operator_client, workspace, two_steps
):
    create_job(workspace, template=two_steps, name="earlier run", start=False)
    html = operator_client.get("/templates/two-steps/").content.decode()
    assert 'class="graph"' in html and "second needs first" in html
    assert "<code>who</code>" in html
    assert "earlier run" in html
    assert "top-secret-pw" not in html  # a secret's default never reaches the page


def test_another_workspaces_template_and_job_are_plain_404s(operator_client, other_workspace):
    theirs = make_template(other_workspace, TWO_STEPS)
    job = create_job(other_workspace, template=theirs, start=False)
    assert operator_client.get("/templates/two-steps/").status_code == 404
    missing = operator_client.get("/jobs/00000000-0000-0000-0000-000000000000/")
    foreign = operator_client.get(f"/jobs/{job.pk}/")
    assert foreign.status_code == missing.status_code == 404
    assert without_csrf(foreign.content) == without_csrf(missing.content)
    assert operator_client.post(f"/jobs/{job.pk}/cancel/").status_code == 404


def test_workspace_switcher_changes_the_workspace_of_every_page(
    operator_user, workspace, other_workspace
):
    Membership.objects.create(workspace=other_workspace, user=operator_user, role=Role.VIEWER)
    make_template(other_workspace, TWO_STEPS.replace("Two steps", "Outsider steps"))
    client = client_for(operator_user)
    html = client.get("/templates/").content.decode()
    assert 'name="workspace"' in html and "Outsider" in html  # the switcher lists both
    assert "Outsider steps" not in html  # Acme sorts first and is the default
    response = client.post("/workspace/", {"workspace": "outsider", "next": "/templates/"})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(other_workspace.pk)
    html = client.get("/templates/").content.decode()
    assert "Outsider steps" in html


def test_workspace_switcher_refuses_a_workspace_the_user_is_not_in(
    operator_client, other_workspace, workspace
):
    operator_client.post("/workspace/", {"workspace": "outsider"})
    assert operator_client.session[SESSION_KEY] == str(workspace.pk)


def test_settings_pages_are_for_admins_only_but_schedules_also_for_operators(
    operator_client, viewer_client, admin_client
):
    for url in [
        "/settings/members/",
        "/settings/keys/",
        "/settings/triggers/",
        "/settings/webhooks/",
    ]:
        assert operator_client.get(url).status_code == 403
        assert viewer_client.get(url).status_code == 403
        assert admin_client.get(url).status_code == 200
    assert viewer_client.get("/settings/schedules/").status_code == 403
    assert b"Settings" not in viewer_client.get("/").content.split(b"<main")[0]
    header = operator_client.get("/").content.split(b"<main")[0]
    assert b'<a href="/settings/schedules/" >Settings</a>' in header
    page = operator_client.get("/settings/schedules/").content.decode()
    assert "Webhooks" not in page and "API keys" not in page


def test_a_poll_after_the_session_ended_sends_the_page_to_the_login_form(
    client, workspace, two_steps
):
    job = create_job(workspace, template=two_steps)
    response = client.get(
        f"/jobs/{job.pk}/?after=0",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/jobs/{job.pk}/",
    )
    assert response["HX-Redirect"] == f"/login/?next=/jobs/{job.pk}/"
    assert b"<html" not in response.content


def test_html_pages_are_sent_gzipped_to_a_browser_that_accepts_it(operator_client):
    response = operator_client.get("/jobs/", HTTP_ACCEPT_ENCODING="gzip, br")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"


def test_every_destructive_settings_action_asks_for_confirmation(
    admin_client, workspace, admin_user
):
    admin_client.post("/settings/keys/new/", {"name": "to-revoke", "role": "viewer"})
    keys = admin_client.get("/settings/keys/").content.decode()
    assert 'data-confirm="Revoke the key to-revoke?' in keys
    members = admin_client.get("/settings/members/").content.decode()
    assert 'data-confirm="Remove ' in members


@pytest.mark.slow  # collectstatic over every app's files: ~25 s here
def test_static_files_are_hashed_precompressed_and_cached_for_a_year(settings, tmp_path):
    """What `serve` (collectstatic + whitenoise) sends outside DEBUG; tests/settings.py
    reads the source files instead, so it is switched on here."""
    import re

    from django.core.management import call_command
    from django.http import HttpResponse
    from django.templatetags.static import static
    from django.test import RequestFactory
    from whitenoise.middleware import WhiteNoiseMiddleware

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", interactive=False, verbosity=0)
    url = static("js/joblog.js")
    assert re.search(r"/joblog\.[0-9a-f]{12}\.js$", url)
    middleware = WhiteNoiseMiddleware(lambda request: HttpResponse(status=404))
    response = middleware(RequestFactory().get(url, HTTP_ACCEPT_ENCODING="gzip"))
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert (
        "max-age=315360000" in response["Cache-Control"]
        and "immutable" in response["Cache-Control"]
    )
