"""Settings → Schedules: operators and admins add and edit schedules, checked by the jobs'
own validator and by the schedule service; admins delete them; a paused schedule says
why, and re-enabling it clears the reason once its variables validate."""

import html as html_lib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.automation.schedules import run_due_schedules
from jobs.models.automation import Schedule
from templates_app.definition import validate_values
from tests.jobs.helpers import make_template
from tests.ui.conftest import TWO_STEPS

pytestmark = pytest.mark.django_db

NIGHTLY = """
slug: nightly
name: Nightly export
variables:
  days: {type: integer, default: 7, min: 1, max: 30}
  region: {type: choice, choices: [eu, us], required: true}
  verbose: {type: boolean, default: false}
  notes: {type: text}
  token: {type: secret, default: token-default}
steps:
  - {id: only, type: noop}
"""


def field_error(html, name):
    match = re.search(
        rf'<div class="field-error" id="id_{name}_error" role="alert">(.*?)</div>', html, re.S
    )
    if not match:
        return None
    return [
        html_lib.unescape(re.sub(r"<[^>]+>", "", p)).strip()
        for p in re.findall(r"<p>(.*?)</p>", match.group(1))
    ]


def textarea(html, name):
    return re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', html, re.S).group(1)


@pytest.fixture
def nightly(workspace):
    return make_template(workspace, NIGHTLY)


def form_data(template, **changes):
    data = {
        "template": str(template.pk),
        "name": "Nightly EU",
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "variables": "days=3\nregion=eu",
        "enabled": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def schedule(workspace, nightly):
    return Schedule.objects.create(
        workspace=workspace,
        template=nightly,
        name="Existing",
        cron="0 4 * * *",
        variables={"days": 5, "region": "us", "token": "stored-token-value"},
        next_run_at=timezone.now() + timedelta(hours=1),
    )


def test_an_operator_adds_a_schedule_with_name_value_lines(
    operator_client, operator_user, workspace, nightly
):
    form = operator_client.get("/settings/schedules/new/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in form and 'method="post"' in form
    response = operator_client.post(
        "/settings/schedules/new/",
        form_data(nightly, variables="# the EU run\ndays = 3\n\nregion=eu\nverbose=true"),
        follow=True,
    )
    schedule = Schedule.objects.get()
    assert schedule.workspace == workspace and schedule.template == nightly
    assert schedule.created_by == operator_user and schedule.enabled
    assert schedule.cron == "0 3 * * *" and schedule.timezone == "Europe/Paris"
    # Coerced by the validator; what was left out is not frozen to today's default.
    assert schedule.variables == {"days": 3, "region": "eu", "verbose": True}
    assert schedule.next_run_at > timezone.now()
    assert "Next run" in response.content.decode() and "Europe/Paris" in response.content.decode()


def test_a_json_object_works_as_the_variables_too(operator_client, nightly):
    response = operator_client.post(
        "/settings/schedules/new/",
        form_data(nightly, variables='{"days": "12", "region": "us", "notes": "two\\nlines"}'),
    )
    assert response.status_code == 302
    assert Schedule.objects.get().variables == {"days": 12, "region": "us", "notes": "two\nlines"}


def test_an_empty_time_zone_means_utc(operator_client, nightly):
    operator_client.post("/settings/schedules/new/", form_data(nightly, timezone=""))
    assert Schedule.objects.get().timezone == "UTC"


def test_variables_are_checked_by_the_jobs_validator_and_shown_beside_their_box(
    operator_client, nightly
):
    typed = "days=99\nregoin=eu"
    response = operator_client.post("/settings/schedules/new/", form_data(nightly, variables=typed))
    assert response.status_code == 400
    html = response.content.decode()
    _, expected = validate_values(
        nightly.current_version.definition["variables"], {"days": "99", "regoin": "eu"}
    )
    assert sorted(field_error(html, "variables")) == sorted(
        f"{name}: {message}" for name, messages in expected.items() for message in messages
    )
    assert "days: must be at most 30" in field_error(html, "variables")
    assert "region: this variable is required" in field_error(html, "variables")
    assert textarea(html, "variables").strip() == typed  # what was typed is kept
    assert field_error(html, "cron") is None
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    "typed, message",
    [
        ("days 3", "Line 1: write name=value, one per line (or a JSON object)."),
        ("days=3\ndays=4", "Line 2: days is given twice."),
        ("{days: 3}", "Not valid JSON: Expecting property name enclosed in double quotes"),
        ('["days"]', "Line 1: write name=value"),
    ],
)
def test_variables_that_cannot_be_read_say_where(operator_client, nightly, typed, message):
    response = operator_client.post("/settings/schedules/new/", form_data(nightly, variables=typed))
    assert response.status_code == 400
    assert field_error(response.content.decode(), "variables")[0].startswith(message)
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("cron", "61 * * * *", "minute: 61 is out of range (0-59)"),
        ("cron", "every night", "is not a five-field cron expression"),
        ("cron", "", "This field is required."),
        ("timezone", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ],
)
def test_a_bad_cron_expression_or_time_zone_is_refused_beside_its_field(
    operator_client, nightly, field, value, message
):
    response = operator_client.post(
        "/settings/schedules/new/", form_data(nightly, **{field: value})
    )
    assert response.status_code == 400
    assert message in field_error(response.content.decode(), field)[0]
    assert not Schedule.objects.exists()


def test_a_schedule_cannot_run_another_workspaces_template(operator_client, other_workspace):
    theirs = make_template(other_workspace, NIGHTLY)
    response = operator_client.post("/settings/schedules/new/", form_data(theirs))
    assert response.status_code == 400
    assert "Select a valid choice" in field_error(response.content.decode(), "template")[0]
    assert not Schedule.objects.exists()
    assert str(theirs.pk) not in operator_client.get("/settings/schedules/new/").content.decode()


def test_a_templates_page_links_to_a_new_schedule_of_it(
    operator_client, viewer_client, nightly, two_steps
):
    link = '<a href="/settings/schedules/new/?template=nightly">Schedule it…</a>'
    assert link in operator_client.get("/templates/nightly/").content.decode()
    assert link not in viewer_client.get("/templates/nightly/").content.decode()
    html = operator_client.get("/settings/schedules/new/?template=nightly").content.decode()
    assert re.search(rf'<option value="{nightly.pk}" selected>', html)


def test_editing_a_schedule_moves_its_next_run_and_turning_it_off_clears_it(
    operator_client, schedule, nightly
):
    form = operator_client.get(f"/settings/schedules/{schedule.pk}/").content.decode()
    assert 'value="0 4 * * *"' in form and "days=5\nregion=us" in textarea(form, "variables")
    before = schedule.next_run_at
    response = operator_client.post(
        f"/settings/schedules/{schedule.pk}/",
        form_data(
            nightly, name="Moved", cron="30 1 * * *", timezone="UTC", variables="days=5\nregion=us"
        ),
    )
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.name == "Moved" and schedule.cron == "30 1 * * *" and schedule.timezone == "UTC"
    assert schedule.next_run_at != before
    assert (schedule.next_run_at.hour, schedule.next_run_at.minute) == (1, 30)
    operator_client.post(
        f"/settings/schedules/{schedule.pk}/",
        form_data(nightly, enabled=None, variables="region=us"),
    )
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None


def test_a_bad_edit_changes_nothing_and_names_every_problem_at_once(
    operator_client, schedule, nightly
):
    response = operator_client.post(
        f"/settings/schedules/{schedule.pk}/",
        form_data(nightly, cron="* *", timezone="Nowhere/Town", variables="days=0\nregion=eu"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "variables") == ["days: must be at least 1"]
    assert "is not a five-field cron expression" in field_error(html, "cron")[0]
    assert "unknown timezone" in field_error(html, "timezone")[0]
    schedule.refresh_from_db()
    assert schedule.cron == "0 4 * * *" and schedule.variables["days"] == 5


def test_secrets_are_masked_in_the_list_never_put_in_the_form_and_kept_when_left_out(
    operator_client, schedule, nightly
):
    listing = operator_client.get("/settings/schedules/").content.decode()
    assert "stored-token-value" not in listing and "token=***" in listing
    form = operator_client.get(f"/settings/schedules/{schedule.pk}/").content.decode()
    assert "stored-token-value" not in form and "Secret values are not shown: token" in form
    operator_client.post(
        f"/settings/schedules/{schedule.pk}/", form_data(nightly, variables="days=6\nregion=us")
    )
    schedule.refresh_from_db()
    assert schedule.unsealed_variables() == {
        "days": 6,
        "region": "us",
        "token": "stored-token-value",
    }
    operator_client.post(
        f"/settings/schedules/{schedule.pk}/", form_data(nightly, variables="region=us\ntoken=")
    )
    schedule.refresh_from_db()
    assert schedule.unsealed_variables() == {"region": "us"}  # the template's default applies again


def test_a_paused_schedule_says_why_and_re_enabling_clears_it_once_its_variables_validate(
    operator_client, workspace, nightly
):
    schedule = Schedule.objects.create(
        workspace=workspace,
        template=nightly,
        cron="* * * * *",
        variables={"days": 45, "region": "eu"},
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    assert run_due_schedules() == 0  # the dispatcher pauses it
    schedule.refresh_from_db()
    reason = schedule.paused_reason
    assert not schedule.enabled and "at most 30" in reason
    listing = operator_client.get("/settings/schedules/").content.decode()
    assert f'<p class="note error-note paused-reason">{reason}</p>' in listing
    assert 'status-failed">paused' in listing
    form = operator_client.get(f"/settings/schedules/{schedule.pk}/").content.decode()
    assert 'class="note error-note paused-reason" role="alert"' in form and reason in form

    still_bad = operator_client.post(
        f"/settings/schedules/{schedule.pk}/", form_data(nightly, variables="days=45\nregion=eu")
    )
    assert still_bad.status_code == 400
    assert field_error(still_bad.content.decode(), "variables") == ["days: must be at most 30"]
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.paused_reason == reason

    fixed = operator_client.post(
        f"/settings/schedules/{schedule.pk}/", form_data(nightly, variables="days=30\nregion=eu")
    )
    assert fixed.status_code == 302
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.paused_reason == "" and schedule.next_run_at
    assert schedule.variables == {"days": 30, "region": "eu"}


def test_a_schedule_of_an_archived_template_cannot_be_enabled(operator_client, schedule, nightly):
    from templates_app.models import JobTemplate

    JobTemplate.objects.filter(pk=nightly.pk).update(archived_at=timezone.now())
    Schedule.objects.filter(pk=schedule.pk).update(
        enabled=False, paused_reason="paused: its template is archived"
    )
    response = operator_client.post(
        f"/settings/schedules/{schedule.pk}/", form_data(nightly, variables="region=us")
    )
    assert response.status_code == 400
    assert "Its template is archived" in field_error(response.content.decode(), "enabled")[0]
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.paused_reason == "paused: its template is archived"


def test_only_admins_delete_a_schedule_after_confirming(operator_client, admin_client, schedule):
    assert (
        b"Delete this schedule"
        not in operator_client.get(f"/settings/schedules/{schedule.pk}/").content
    )
    assert operator_client.get(f"/settings/schedules/{schedule.pk}/delete/").status_code == 403
    assert operator_client.post(f"/settings/schedules/{schedule.pk}/delete/").status_code == 403
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert (
        b"Delete this schedule" in admin_client.get(f"/settings/schedules/{schedule.pk}/").content
    )
    confirm = admin_client.get(f"/settings/schedules/{schedule.pk}/delete/")
    assert confirm.status_code == 200 and b"the jobs it started stay" in confirm.content
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    response = admin_client.post(f"/settings/schedules/{schedule.pk}/delete/", follow=True)
    assert "Schedule “Existing” deleted" in response.content.decode()
    assert not Schedule.objects.exists()


def test_viewers_can_neither_see_nor_change_schedules(viewer_client, schedule, nightly):
    edit = f"/settings/schedules/{schedule.pk}/"
    for url in ("/settings/schedules/", "/settings/schedules/new/", edit, edit + "delete/"):
        assert viewer_client.get(url).status_code == 403
    assert viewer_client.post("/settings/schedules/new/", form_data(nightly)).status_code == 403
    assert viewer_client.post(edit, form_data(nightly, name="hijacked")).status_code == 403
    assert viewer_client.post(edit + "delete/").status_code == 403
    schedule.refresh_from_db()
    assert schedule.name == "Existing" and Schedule.objects.count() == 1


def test_another_workspaces_schedule_is_not_found_for_every_action(admin_client, other_workspace):
    theirs_template = make_template(other_workspace, TWO_STEPS)
    theirs = Schedule.objects.create(
        workspace=other_workspace, template=theirs_template, name="Theirs", cron="0 1 * * *"
    )
    edit = f"/settings/schedules/{theirs.pk}/"
    assert admin_client.get(edit).status_code == 404
    data = {"template": str(theirs_template.pk), "cron": "* * * * *", "enabled": "on"}
    assert admin_client.post(edit, data).status_code == 404
    assert admin_client.get(edit + "delete/").status_code == 404
    assert admin_client.post(edit + "delete/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.cron == "0 1 * * *"
    assert "Theirs" not in admin_client.get("/settings/schedules/").content.decode()


def test_the_schedule_forms_are_refused_without_a_csrf_token(admin_user, schedule, nightly):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post("/settings/schedules/new/", form_data(nightly)).status_code == 403
    assert client.post(f"/settings/schedules/{schedule.pk}/", form_data(nightly)).status_code == 403
    assert client.post(f"/settings/schedules/{schedule.pk}/delete/").status_code == 403
    assert Schedule.objects.count() == 1


def test_an_empty_schedule_post_shows_what_is_missing(operator_client):
    response = operator_client.post("/settings/schedules/new/", {})
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error(html, "template") == ["This field is required."]
    assert field_error(html, "cron") == ["This field is required."]
    assert not Schedule.objects.exists()
