"""Admin settings pages: members, API keys shown once, trigger keys."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from jobsite.models import ApiKey, Membership, Role, hash_key
from tests.jobs.helpers import make_template
from tests.ui.conftest import TWO_STEPS

pytestmark = pytest.mark.django_db


def test_a_new_api_key_is_shown_once(admin_client, workspace):
    response = admin_client.post(
        "/settings/keys/new/", {"name": "ci-bot", "role": "viewer"}, follow=True
    )
    raw = re.search(r'value="(jsk_[^"]+)"', response.content.decode()).group(1)
    key = ApiKey.find(raw)
    assert key.workspace == workspace and key.role == Role.VIEWER and key.name == "ci-bot"
    again = admin_client.get("/settings/keys/").content.decode()
    assert raw not in again and key.prefix in again


def session_table_text():
    """Every session row as stored, and as Django decodes it."""
    rows = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key, session_data FROM django_session")
        for session_key, data in cursor.fetchall():
            rows.append(f"{session_key} {data} {SessionStore().decode(data)}")
    return "\n".join(rows)


@pytest.mark.parametrize(
    ("create", "pattern"),
    [
        (
            lambda client, template: client.post(
                "/settings/keys/new/", {"name": "ci-bot", "role": "admin"}
            ),
            r'value="(jsk_[^"]+)"',
        ),
        (
            lambda client, template: client.post(f"/settings/triggers/{template.slug}/key/"),
            r'value="(jtk_[^"]+)"',
        ),
        (
            lambda client, template: client.post(
                "/settings/webhooks/new/", {"url": "https://example.com/h", "is_active": "on"}
            ),
            r'value="(whsec_[^"]+)"',
        ),
    ],
    ids=["api key", "trigger key", "webhook secret"],
)
def test_no_raw_secret_waits_in_the_session_table_to_be_shown(
    admin_client, workspace, create, pattern
):
    template = make_template(
        workspace,
        TWO_STEPS.replace("variables:", "settings: {trigger_url: {enabled: true}}\nvariables:"),
    )
    redirect = create(admin_client, template)
    assert redirect.status_code == 302
    stored_between = session_table_text()  # the POST is answered, the page not viewed yet
    page = admin_client.get(redirect["Location"]).content.decode()
    raw = re.search(pattern, page).group(1)
    assert raw not in stored_between
    assert raw not in session_table_text()
    assert raw not in admin_client.get(redirect["Location"]).content.decode()  # shown once


def test_revoking_a_key_stops_it(admin_client, workspace):
    key, raw = ApiKey.issue(workspace, "old", role=Role.OPERATOR)
    admin_client.post(f"/settings/keys/{key.pk}/revoke/")
    assert ApiKey.find(raw) is None


def test_keys_of_another_workspace_are_out_of_reach(admin_client, other_workspace):
    key, raw = ApiKey.issue(other_workspace, "theirs")
    assert admin_client.post(f"/settings/keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.find(raw) is not None
    assert b"theirs" not in admin_client.get("/settings/keys/").content


def test_members_can_be_added_changed_and_removed_but_the_last_admin_stays(
    admin_client, admin_user, workspace
):
    # By username: staff only (docs/workspaces.md; a workspace admin picks colleagues or
    # invites by email, tests/security/test_memberships.py).
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    get_user_model().objects.create_user("newbie", password="pw")
    admin_client.post("/settings/members/add/", {"username": "newbie", "role": "operator"})
    membership = Membership.objects.get(user__username="newbie")
    assert membership.role == Role.OPERATOR and membership.workspace == workspace
    admin_client.post(f"/settings/members/{membership.pk}/", {"role": "viewer"})
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER
    admin_client.post(f"/settings/members/{membership.pk}/", {"remove": "1"})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    mine = Membership.objects.get(user=admin_user)
    response = admin_client.post(f"/settings/members/{mine.pk}/", {"role": "viewer"}, follow=True)
    assert b"keeps at least one admin" in response.content
    mine.refresh_from_db()
    assert mine.role == Role.ADMIN


def test_an_operator_cannot_change_members(operator_client, operator_user):
    mine = Membership.objects.get(user=operator_user)
    assert (
        operator_client.post(f"/settings/members/{mine.pk}/", {"role": "admin"}).status_code == 403
    )
    mine.refresh_from_db()
    assert mine.role == Role.OPERATOR


def test_a_trigger_key_is_shown_once_and_works_with_the_apis_hash(admin_client, workspace):
    template = make_template(workspace, TWO_STEPS + "settings:\n  trigger_url: {enabled: true}\n")
    html = admin_client.get("/settings/triggers/").content.decode()
    assert "/api/hooks/acme/two-steps/trigger/" in html
    response = admin_client.post("/settings/triggers/two-steps/key/", follow=True)
    raw = re.search(r'value="(jtk_[^"]+)"', response.content.decode()).group(1)
    template.refresh_from_db()
    assert template.trigger_key_hash == hash_key(raw)
    assert raw not in admin_client.get("/settings/triggers/").content.decode()


def test_webhooks_page_shows_endpoints_and_the_delivery_log_and_redelivers(
    admin_client, operator_client, workspace, other_workspace
):
    from jobs.models.automation import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/jobsite", events=["job.failed"]
    )
    delivery = WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        url=endpoint.url,
        event="job.failed",
        payload={"x": 1},
        status="failed",
        attempts=1,
        last_status_code=500,
    )
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=1,
        status_code=500,
        duration_ms=120,
        response_excerpt="<b>boom</b>",
    )
    theirs = WebhookEndpoint.objects.create(
        workspace=other_workspace, url="https://theirs.example.com/"
    )
    their_delivery = WebhookDelivery.objects.create(
        workspace=other_workspace, endpoint=theirs, url=theirs.url, event="job.failed", payload={}
    )
    html = admin_client.get("/settings/webhooks/").content.decode()
    assert "https://hooks.example.com/jobsite" in html and "theirs.example.com" not in html
    assert "HTTP 500" in html and "&lt;b&gt;boom&lt;/b&gt;" in html
    admin_client.post(f"/settings/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2
    assert (
        admin_client.post(
            f"/settings/webhooks/deliveries/{their_delivery.pk}/redeliver/"
        ).status_code
        == 404
    )
    assert (
        operator_client.post(f"/settings/webhooks/deliveries/{delivery.pk}/redeliver/").status_code
        == 403
    )
    assert operator_client.get("/settings/webhooks/").status_code == 403


def test_schedules_page_lists_the_workspaces_schedules(admin_client, workspace):
    from jobs.models.automation import Schedule

    template = make_template(workspace, TWO_STEPS)
    Schedule.objects.create(
        workspace=workspace,
        template=template,
        name="Nightly greeting",
        cron="0 3 * * *",
        variables={"who": "night"},
    )
    html = admin_client.get("/settings/schedules/").content.decode()
    assert (
        "Nightly greeting" in html
        and "0 3 * * *" in html
        and "who=night" in html
        and "never ran" in html
    )
