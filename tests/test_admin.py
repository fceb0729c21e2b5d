"""The Django admin: every model lists, templates edit as YAML with the API's validation,
and actions call the same services."""

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job, Schedule
from jobs.services import create_job
from templates_app.models import JobTemplate
from tests.jobs.helpers import make_template

SOURCE = """slug: hello
name: Hello
steps:
  - {id: s, type: sleep, with: {seconds: 30}}
"""


@pytest.fixture
def admin_client(client, workspace):
    user = get_user_model().objects.create_superuser("root", "root@example.invalid", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/jobsite/workspace/",
        "/admin/jobsite/membership/",
        "/admin/jobsite/apikey/",
        "/admin/templates_app/jobtemplate/",
        "/admin/templates_app/templateversion/",
        "/admin/jobs/job/",
        "/admin/jobs/steprun/",
        "/admin/jobs/jobevent/",
        "/admin/jobs/artifact/",
        "/admin/jobs/workerhost/",
        "/admin/django_q/failure/",
        "/admin/django_q/schedule/",
        "/admin/jobs/webhookendpoint/",
        "/admin/jobs/webhookdelivery/",
        "/admin/jobs/schedule/",
        "/admin/jobs/job/?status__exact=running&q=abc",
        "/admin/jobs/notificationchannel/",
        "/admin/jobs/notificationdelivery/",
        "/admin/jobs/upload/",
    ],
)
def test_every_admin_list_renders(admin_client, path):
    assert admin_client.get(path).status_code == 200


def test_saving_a_template_in_the_admin_validates_it_and_writes_a_version(admin_client, workspace):
    bad = admin_client.post(
        "/admin/templates_app/jobtemplate/add/",
        {"workspace": workspace.pk, "source": SOURCE + "    needs: [nope]\n"},
    )
    assert bad.status_code == 200
    assert "needs" in bad.content.decode() and "nope" in bad.content.decode()
    assert not JobTemplate.objects.exists()
    good = admin_client.post(
        "/admin/templates_app/jobtemplate/add/", {"workspace": workspace.pk, "source": SOURCE}
    )
    assert good.status_code == 302
    template = JobTemplate.objects.get(slug="hello")
    assert template.current_version.number == 1
    edited = admin_client.post(
        f"/admin/templates_app/jobtemplate/{template.pk}/change/",
        {"workspace": workspace.pk, "source": SOURCE.replace("Hello", "Hello again")},
    )
    assert edited.status_code == 302
    template.refresh_from_db()
    assert template.name == "Hello again" and template.current_version.number == 2


def test_admin_cancel_action_uses_the_service_and_reports_refusals(admin_client, workspace):
    job = create_job(workspace, template=make_template(workspace, SOURCE))
    response = admin_client.post(
        "/admin/jobs/job/",
        {"action": "cancel_jobs", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    assert "Canceled 1 job" in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == "canceled"
    again = admin_client.post(
        "/admin/jobs/job/",
        {"action": "cancel_jobs", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    assert "already canceled" in again.content.decode()


def test_the_cluster_page_shows_hosts_running_steps_and_queue_age(admin_client, workspace, client):
    from jobs.engine.steps import claim_step
    from jobs.worker.hosts import beat

    beat("host-a")
    job = create_job(workspace, template=make_template(workspace, SOURCE))
    step = job.steps.get()
    claim_step(step.pk, step.attempt, "host-a:123")
    queued = create_job(
        workspace, template=make_template(workspace, SOURCE.replace("hello", "hello2"))
    )
    html = admin_client.get("/admin/cluster/").content.decode()
    assert "host-a" in html and "alive" in html
    assert "host-a:123" in html and str(job.pk) in html
    assert "Queued steps: <strong>1</strong>" in html
    assert queued.status == "queued"
    client.logout()
    assert client.get("/admin/cluster/").status_code == 302  # staff only


NIGHTLY = """slug: nightly
name: Nightly
variables:
  days: {type: integer, default: 1, max: 30}
steps:
  - {id: s, type: noop}
"""


def test_saving_a_schedule_in_the_admin_checks_it_as_the_settings_page_and_the_api_do(
    admin_client, workspace
):
    template = make_template(workspace, NIGHTLY)
    form = {
        "workspace": workspace.pk,
        "template": template.pk,
        "name": "",
        "timezone": "Mars/Olympus",
        "enabled": "on",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    bad = admin_client.post(
        "/admin/jobs/schedule/add/", {**form, "cron": "0 3 31 2 *", "variables": '{"days": 99}'}
    )
    page = bad.content.decode()
    assert bad.status_code == 200
    assert "unknown timezone" in page and "no date that ever comes" in page and "days: " in page
    assert not Schedule.objects.exists()
    good = admin_client.post(
        "/admin/jobs/schedule/add/",
        {**form, "timezone": "UTC", "cron": "0 3 * * *", "variables": '{"days": 7}'},
    )
    assert good.status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.variables == {"days": 7} and schedule.next_run_at is not None


def test_saving_a_webhook_endpoint_in_the_admin_refuses_what_the_api_refuses(
    admin_client, workspace
):
    from jobs.models import WebhookEndpoint

    form = {
        "workspace": workspace.pk,
        "description": "",
        "events": "[]",
        "is_active": "on",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    bad = admin_client.post(
        "/admin/jobs/webhookendpoint/add/",
        {**form, "url": "ftp://files.example.com/", "events": '["job.exploded"]'},
    )
    assert bad.status_code == 200
    assert "Enter a valid URL." in bad.content.decode() and "unknown event" in bad.content.decode()
    assert not WebhookEndpoint.objects.exists()
    good = admin_client.post(
        "/admin/jobs/webhookendpoint/add/", {**form, "url": "https://hooks.example.com/in"}
    )
    assert good.status_code == 302
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.com/in"


def test_the_admin_names_what_it_added_and_its_models_properly(admin_client, workspace):
    added = admin_client.post(
        "/admin/templates_app/jobtemplate/add/",
        {"workspace": workspace.pk, "source": SOURCE},
        follow=True,
    ).content.decode()
    assert "Hello" in added and "“-”" not in added and '"-"' not in added
    index = admin_client.get("/admin/").content.decode()
    assert "Webhook deliveries" in index and "API keys" in index
    assert 'href="/admin/cluster/"' in index  # the cluster page is linked
    cluster = admin_client.get("/admin/cluster/").content.decode()
    assert 'id="header"' in cluster and "Log out" in cluster  # with the admin's header


def test_an_admin_job_page_shows_json_and_links_to_the_ui(admin_client, workspace):
    template = make_template(workspace, SOURCE)
    job = create_job(workspace, template=template, start=False)
    html = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert f'href="/jobs/{job.pk}/"' in html
    # The definition as indented JSON (PostgreSQL's jsonb orders the keys its own way).
    assert "<pre>{\n  &quot;" in html and "\n  &quot;slug&quot;: &quot;hello&quot;," in html
    assert "{&#x27;slug&#x27;" not in html  # not as a Python repr


def test_saving_a_notification_channel_in_the_admin_refuses_what_the_api_refuses(
    admin_client, workspace
):
    from jobs.models import NotificationChannel

    form = {
        "workspace": workspace.pk,
        "kind": "email",
        "name": "Ops",
        "is_active": "on",
        "created_at_0": "2026-01-01",
        "created_at_1": "00:00:00",
    }
    bad = admin_client.post(
        "/admin/jobs/notificationchannel/add/",
        {**form, "target": "nobody", "events": '["job.exploded"]'},
    )
    assert bad.status_code == 200
    assert (
        "not an email address: nobody" in bad.content.decode()
        and "choose one or more of" in bad.content.decode()
    )
    assert not NotificationChannel.objects.exists()
    good = admin_client.post(
        "/admin/jobs/notificationchannel/add/",
        {**form, "target": "ops@example.test", "events": '["job.failed"]'},
    )
    assert good.status_code == 302
    assert NotificationChannel.objects.get().events == ["job.failed"]
