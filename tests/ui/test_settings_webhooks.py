"""Settings → Webhooks: admins add, edit, rotate and delete endpoints; the signing secret
is shown once; operators and viewers are refused; another workspace's endpoints are 404."""

import re

import pytest
from django.test import Client

from jobs.models.automation import WEBHOOK_EVENTS, WebhookDelivery, WebhookEndpoint
from tests.jobs.helpers import make_template
from tests.ui.conftest import TWO_STEPS

pytestmark = pytest.mark.django_db


def shown_secret(html):
    match = re.search(r'class="secret-value" type="text" readonly value="(whsec_[^"]+)"', html)
    return match.group(1) if match else None


def field_error(html, name):
    match = re.search(
        rf'<div class="field-error" id="id_{name}_error" role="alert">(.*?)</div>', html, re.S
    )
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else None


@pytest.fixture
def endpoint(workspace):
    return WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/old", events=["job.failed"]
    )


@pytest.fixture
def their_endpoint(other_workspace):
    return WebhookEndpoint.objects.create(
        workspace=other_workspace, url="https://theirs.example.com/"
    )


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(admin_client, workspace, two_steps):
    form = admin_client.get("/settings/webhooks/new/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in form and 'method="post"' in form
    response = admin_client.post(
        "/settings/webhooks/new/",
        {
            "url": "https://ci.example.com/hook",
            "description": "CI bot",
            "events": ["job.succeeded", "job.failed"],
            "template": str(two_steps.pk),
            "is_active": "on",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.workspace == workspace and endpoint.template == two_steps
    assert endpoint.url == "https://ci.example.com/hook" and endpoint.description == "CI bot"
    assert endpoint.events == ["job.succeeded", "job.failed"]  # in WEBHOOK_EVENTS' order
    assert endpoint.is_active
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/settings/webhooks/"
    assert shown_secret(html) == endpoint.secret
    assert "shown this once" in html
    for page in ("/settings/webhooks/", f"/settings/webhooks/{endpoint.pk}/"):
        assert endpoint.secret not in admin_client.get(page).content.decode()


def test_no_event_ticked_means_every_event(admin_client):
    admin_client.post(
        "/settings/webhooks/new/", {"url": "https://all.example.com/", "is_active": "on"}
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == [] and endpoint.template is None
    assert all(endpoint.wants(event, None) for event in WEBHOOK_EVENTS)
    assert "all events" in admin_client.get("/settings/webhooks/").content.decode()


@pytest.mark.parametrize(
    "url, message",
    [
        ("", "This field is required."),
        ("ftp://files.example.com/", "Enter a valid URL."),
        ("https://", "Enter a valid URL."),
    ],
)
def test_a_bad_url_is_refused_beside_its_field_and_nothing_is_made(admin_client, url, message):
    response = admin_client.post(
        "/settings/webhooks/new/", {"url": url, "description": "kept text", "is_active": "on"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "url") == message
    assert 'aria-invalid="true"' in html and "kept text" in html
    assert not WebhookEndpoint.objects.exists()


def test_an_unknown_event_is_refused_beside_the_events(admin_client):
    response = admin_client.post(
        "/settings/webhooks/new/", {"url": "https://x.example.com/", "events": ["job.exploded"]}
    )
    assert response.status_code == 400
    assert "job.exploded is not one of the available choices" in field_error(
        response.content.decode(), "events"
    )
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_cannot_be_limited_to_another_workspaces_template(
    admin_client, other_workspace
):
    theirs = make_template(other_workspace, TWO_STEPS)
    response = admin_client.post(
        "/settings/webhooks/new/", {"url": "https://x.example.com/", "template": str(theirs.pk)}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in field_error(response.content.decode(), "template")
    assert not WebhookEndpoint.objects.exists()
    form = admin_client.get("/settings/webhooks/new/").content.decode()
    assert str(theirs.pk) not in form


def test_editing_an_endpoint_changes_what_was_typed_and_keeps_its_secret(
    admin_client, endpoint, two_steps
):
    secret = endpoint.secret
    form = admin_client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert 'value="https://hooks.example.com/old"' in form
    assert re.search(r'<input type="checkbox" name="events" value="job.failed"[^>]* checked', form)
    response = admin_client.post(
        f"/settings/webhooks/{endpoint.pk}/",
        {
            "url": "https://hooks.example.com/new",
            "description": "renamed",
            "events": ["step.failed"],
            "template": str(two_steps.pk),
        },
    )
    assert response.status_code == 302 and response["Location"] == "/settings/webhooks/"
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/new" and endpoint.description == "renamed"
    assert endpoint.events == ["step.failed"] and endpoint.template == two_steps
    assert not endpoint.is_active  # the box was left unticked
    assert endpoint.secret == secret


def test_a_bad_edit_changes_nothing_and_says_why(admin_client, endpoint):
    response = admin_client.post(
        f"/settings/webhooks/{endpoint.pk}/", {"url": "nope", "is_active": "on"}
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "url") == "Enter a valid URL."
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/old"


def test_reactivating_an_endpoint_disabled_by_a_410_clears_the_reason(admin_client, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason="the receiver answered 410 Gone on 2026-11-22 10:00 UTC"
    )
    assert "410 Gone" in admin_client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    admin_client.post(
        f"/settings/webhooks/{endpoint.pk}/", {"url": endpoint.url, "is_active": "on"}
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == ""


def test_rotating_shows_the_new_secret_once_and_the_old_one_keeps_signing(admin_client, endpoint):
    old = endpoint.secret
    response = admin_client.post(f"/settings/webhooks/{endpoint.pk}/rotate/", follow=True)
    endpoint.refresh_from_db()
    html = response.content.decode()
    assert endpoint.secret != old and shown_secret(html) == endpoint.secret
    assert old not in html
    assert endpoint.signing_secrets() == [endpoint.secret, old]
    assert "the old one signs beside it" in html
    assert endpoint.secret not in admin_client.get("/settings/webhooks/").content.decode()
    assert (
        "previous secret signs too"
        in admin_client.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    )


def test_deleting_an_endpoint_asks_first_and_takes_its_delivery_log(
    admin_client, endpoint, workspace
):
    WebhookDelivery.objects.create(
        workspace=workspace, endpoint=endpoint, url=endpoint.url, event="job.failed", payload={}
    )
    confirm = admin_client.get(f"/settings/webhooks/{endpoint.pk}/delete/")
    assert confirm.status_code == 200 and b"its 1 deliveries" in confirm.content
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    response = admin_client.post(f"/settings/webhooks/{endpoint.pk}/delete/", follow=True)
    assert b"deleted" in response.content
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


def test_operators_and_viewers_cannot_add_edit_rotate_or_delete_endpoints(
    operator_client, viewer_client, endpoint
):
    secret = endpoint.secret
    for client in (operator_client, viewer_client):
        assert client.get("/settings/webhooks/new/").status_code == 403
        assert (
            client.post("/settings/webhooks/new/", {"url": "https://x.example.com/"}).status_code
            == 403
        )
        assert client.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 403
        edit = {"url": "https://evil.example.com/", "is_active": "on"}
        assert client.post(f"/settings/webhooks/{endpoint.pk}/", edit).status_code == 403
        assert client.post(f"/settings/webhooks/{endpoint.pk}/rotate/").status_code == 403
        assert client.get(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 403
        assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/old" and endpoint.secret == secret
    assert WebhookEndpoint.objects.count() == 1


def test_another_workspaces_endpoint_is_not_found_for_every_action(admin_client, their_endpoint):
    secret = their_endpoint.secret
    base = f"/settings/webhooks/{their_endpoint.pk}/"
    assert admin_client.get(base).status_code == 404
    assert (
        admin_client.post(base, {"url": "https://evil.example.com/", "is_active": "on"}).status_code
        == 404
    )
    assert admin_client.post(base + "rotate/").status_code == 404
    assert admin_client.get(base + "delete/").status_code == 404
    assert admin_client.post(base + "delete/").status_code == 404
    their_endpoint.refresh_from_db()
    assert their_endpoint.url == "https://theirs.example.com/" and their_endpoint.secret == secret


def test_the_forms_are_refused_without_a_csrf_token(admin_user, endpoint):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert (
        client.post("/settings/webhooks/new/", {"url": "https://x.example.com/"}).status_code == 403
    )
    assert client.post(f"/settings/webhooks/{endpoint.pk}/rotate/").status_code == 403
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete/").status_code == 403
    assert WebhookEndpoint.objects.count() == 1


def test_an_empty_post_shows_what_is_missing_instead_of_a_fresh_form(admin_client):
    response = admin_client.post("/settings/webhooks/new/", {})
    assert response.status_code == 400
    assert field_error(response.content.decode(), "url") == "This field is required."


def test_a_delivery_row_has_no_link_in_its_summary_and_shows_a_500_as_a_failure(
    admin_client, endpoint, workspace, two_steps
):
    import re

    from tests.ui.conftest import running_job

    job = running_job(two_steps, name="The job")
    WebhookDelivery.objects.create(
        workspace=workspace, endpoint=endpoint, job=job, url=endpoint.url, event="job.failed",
        payload={}, status="retrying", attempts=2, last_status_code=500,
    )  # fmt: skip
    html = admin_client.get("/settings/webhooks/").content.decode()
    summary = re.search(r"<summary>(.*?)</summary>", html, re.S).group(1)
    assert "<a " not in summary  # a link inside a clickable summary is two controls in one
    assert '<span class="badge status-failed">HTTP 500</span>' in summary
    assert f'href="/jobs/{job.pk}/"' in html  # the job is still one click away, below
