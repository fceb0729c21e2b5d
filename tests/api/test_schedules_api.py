"""schedules/: everyone reads, operators add and change, admins delete. Variables are
checked by the jobs' validator, cron and time zone by the schedule service, every
problem named at once; secrets never shown; nothing of another workspace reachable."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.automation.schedules import run_due_schedules
from jobs.models import Job
from jobs.models.automation import Schedule
from tests.api.conftest import client_for
from tests.jobs.helpers import make_template

SCHEDULES = "/api/v1/schedules/"
NOWHERE = "00000000-0000-0000-0000-000000000000"

NIGHTLY = """
slug: nightly
name: Nightly
variables:
  days: {type: integer, required: true, min: 1, max: 30}
  region: {type: choice, choices: [eu, us], default: eu}
  token: {type: secret}
steps:
  - {id: a, type: noop}
"""


@pytest.fixture
def nightly(workspace):
    return make_template(workspace, NIGHTLY)


@pytest.fixture
def schedule(workspace, nightly):
    return Schedule.objects.create(
        workspace=workspace,
        template=nightly,
        name="nightly eu",
        cron="0 3 * * *",
        timezone="Europe/Paris",
        variables={"days": 7, "token": "tok-123"},
        next_run_at=timezone.now() + timedelta(hours=5),
    )


def create(client, **fields):
    body = {"template": "nightly", "cron": "0 3 * * *", "variables": {"days": 3}, **fields}
    return client.post(SCHEDULES, body, format="json")


def errors_of(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["detail"] == "Invalid input."
    return body["errors"]


# --- adding -----------------------------------------------------------------------------------


def test_an_operator_adds_a_schedule_and_it_has_a_next_run(operator_client, workspace, nightly):
    response = create(
        operator_client,
        name="nightly",
        timezone="Europe/Paris",
        variables={"days": "3", "region": "us"},
    )
    assert response.status_code == 201
    created = response.json()
    assert response["Location"].endswith(f"{SCHEDULES}{created['id']}/")
    assert created["template"] == {"id": str(nightly.pk), "slug": "nightly"}
    assert {
        key: created[key]
        for key in ("name", "cron", "timezone", "variables", "enabled", "paused_reason")
    } == {
        "name": "nightly",
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "variables": {"days": 3, "region": "us"},  # coerced as for a job; defaults not stored
        "enabled": True,
        "paused_reason": None,
    }
    assert created["last_run_at"] is None and created["last_job_id"] is None
    next_run = timezone.datetime.fromisoformat(created["next_run_at"])
    assert timezone.now() < next_run <= timezone.now() + timedelta(days=1)
    assert next_run.astimezone(timezone.zoneinfo.ZoneInfo("Europe/Paris")).hour == 3
    stored = Schedule.objects.get(pk=created["id"])
    assert stored.workspace == workspace and stored.variables == {"days": 3, "region": "us"}


def test_the_template_may_be_named_by_id_and_the_time_zone_left_out(operator_client, nightly):
    created = create(operator_client, template=str(nightly.pk), cron="  */15   * * * *").json()
    assert created["template"]["slug"] == "nightly" and created["timezone"] == "UTC"
    assert created["cron"] == "*/15 * * * *" and created["name"] == ""
    assert create(operator_client, timezone="").json()["timezone"] == "UTC"


def test_a_schedule_added_switched_off_has_no_next_run(operator_client, nightly):
    created = create(operator_client, enabled=False).json()
    assert created["enabled"] is False and created["next_run_at"] is None


def test_a_secret_variable_is_stored_but_always_reads_as_a_mask(operator_client, nightly):
    response = create(operator_client, variables={"days": 2, "token": "tok-secret-9"})
    created = response.json()
    assert created["variables"] == {"days": 2, "token": "***"}
    assert b"tok-secret-9" not in response.content
    assert Schedule.objects.get(pk=created["id"]).unsealed_variables()["token"] == "tok-secret-9"
    for answer in (
        operator_client.get(SCHEDULES),
        operator_client.get(f"{SCHEDULES}{created['id']}/"),
    ):
        assert b"tok-secret-9" not in answer.content
    assert operator_client.get(f"{SCHEDULES}{created['id']}/").json()["variables"]["token"] == "***"


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron, message",
    [
        ("every day", "is not a five-field cron expression"),
        ("0 3 * *", "is not a five-field cron expression"),
        ("61 * * * *", "minute: 61 is out of range (0-59)"),
        ("0 3 * * * *", "is not a five-field cron expression"),
        ("0 3 31 2 mon-", "weekday: 'mon-' is not valid"),
    ],
)
def test_a_bad_cron_expression_is_a_400_naming_cron_and_the_field(
    operator_client, nightly, cron, message
):
    errors = errors_of(create(operator_client, cron=cron))
    assert list(errors) == ["cron"] and message in errors["cron"][0]
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_cron_expression_naming_no_date_that_ever_comes_is_a_400_naming_cron(
    operator_client, nightly, enabled
):
    errors = errors_of(create(operator_client, cron="0 3 31 2 *", enabled=enabled))
    assert errors == {"cron": ["'0 3 31 2 *' names no date that ever comes (e.g. February 31st)"]}


def test_an_unknown_time_zone_is_a_400_naming_timezone(operator_client, nightly):
    errors = errors_of(create(operator_client, timezone="Mars/Olympus_Mons"))
    assert errors == {
        "timezone": ["unknown timezone 'Mars/Olympus_Mons' (use an IANA name such as Europe/Paris)"]
    }


def test_every_problem_is_named_at_once(operator_client, nightly):
    errors = errors_of(
        create(
            operator_client,
            cron="nope",
            timezone="Nowhere/Land",
            variables={"days": 99, "region": "mars", "colour": "red"},
        )
    )
    assert set(errors) == {
        "cron",
        "timezone",
        "variables.days",
        "variables.region",
        "variables.colour",
    }
    assert errors["variables.days"] == ["must be at most 30"]
    assert errors["variables.colour"] == ["unknown variable"]
    assert "must be one of" in errors["variables.region"][0]


def test_a_required_variable_left_out_is_a_400_naming_it(operator_client, nightly):
    errors = errors_of(create(operator_client, variables={}))
    assert errors == {"variables.days": ["this variable is required"]}


def test_a_bad_secret_value_is_named_without_being_repeated(operator_client, workspace):
    make_template(
        workspace,
        "slug: pinned\nname: Pinned\nvariables:\n  pin: {type: secret, pattern: '[0-9]{4}'}\nsteps: [{id: a, type: noop}]\n",
    )
    response = create(operator_client, template="pinned", variables={"pin": "hunter2"})
    assert list(errors_of(response)) == ["variables.pin"] and b"hunter2" not in response.content


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"template", "cron"}),
        ({"template": "nightly", "cron": "", "variables": {"days": 1}}, {"cron"}),
        ({"template": "nightly", "cron": "0 3 * * *", "variables": [1, 2]}, {"variables"}),
        (
            {
                "template": "nightly",
                "cron": "0 3 * * *",
                "variables": {"days": 1},
                "enabled": "yes",
            },
            {"enabled"},
        ),
        (
            {
                "template": "nightly",
                "cron": "0 3 * * *",
                "variables": {"days": 1},
                "next_run_at": "2030-01-01T00:00:00Z",
            },
            {"next_run_at"},
        ),
        ({"template": 7, "cron": 5}, {"template", "cron"}),
    ],
    ids=[
        "empty",
        "blank-cron",
        "variables-not-an-object",
        "enabled-not-a-boolean",
        "read-only-field",
        "wrong-types",
    ],
)
def test_a_malformed_body_is_a_400_naming_each_field(operator_client, nightly, body, fields):
    assert set(errors_of(operator_client.post(SCHEDULES, body, format="json"))) == fields
    assert not Schedule.objects.exists()


def test_another_workspaces_template_is_refused_like_one_that_never_existed(
    operator_client, other_workspace
):
    theirs = make_template(other_workspace, NIGHTLY)
    for foreign, missing in ((str(theirs.pk), NOWHERE), ("nightly", "no-such-template")):
        refused = create(operator_client, template=foreign)
        absent = create(operator_client, template=missing)
        assert refused.content == absent.content
        assert errors_of(refused) == {"template": ["no such template in this workspace"]}
    assert not Schedule.objects.exists()


def test_an_archived_template_cannot_be_scheduled(operator_client, nightly):
    nightly.archived_at = timezone.now()
    nightly.save(update_fields=["archived_at"])
    assert errors_of(create(operator_client)) == {"template": ["this template is archived"]}


# --- changing ----------------------------------------------------------------------------------


def test_patch_changes_only_what_is_sent_and_moves_the_next_run(operator_client, schedule):
    last_run = timezone.now() - timedelta(hours=2)
    Schedule.objects.filter(pk=schedule.pk).update(last_run_at=last_run)
    before = schedule.next_run_at
    response = operator_client.patch(
        f"{SCHEDULES}{schedule.pk}/", {"cron": "30 * * * *"}, format="json"
    )
    assert response.status_code == 200
    shown = response.json()
    assert (
        shown["cron"] == "30 * * * *"
        and shown["name"] == "nightly eu"
        and shown["timezone"] == "Europe/Paris"
    )
    assert shown["variables"] == {"days": 7, "token": "***"}
    next_run = timezone.datetime.fromisoformat(shown["next_run_at"])
    assert (
        next_run != before
        and next_run.minute == 30
        and next_run - timezone.now() <= timedelta(hours=1)
    )
    schedule.refresh_from_db()
    assert (
        schedule.unsealed_variables() == {"days": 7, "token": "tok-123"}
        and schedule.last_run_at == last_run
    )


def test_switching_a_schedule_off_clears_its_next_run(operator_client, schedule):
    shown = operator_client.patch(
        f"{SCHEDULES}{schedule.pk}/", {"enabled": False}, format="json"
    ).json()
    assert shown["enabled"] is False and shown["next_run_at"] is None


def test_an_omitted_or_masked_secret_keeps_its_value_and_an_empty_one_drops_it(
    operator_client, schedule
):
    url = f"{SCHEDULES}{schedule.pk}/"
    shown = operator_client.get(url).json()
    # Sent back as read (the mask), and left out: kept.
    assert (
        operator_client.patch(url, {"variables": shown["variables"]}, format="json").status_code
        == 200
    )
    schedule.refresh_from_db()
    assert schedule.unsealed_variables() == {"days": 7, "token": "tok-123"}
    operator_client.patch(url, {"variables": {"days": 9}}, format="json")
    schedule.refresh_from_db()
    assert schedule.unsealed_variables() == {"days": 9, "token": "tok-123"}
    # Replaced, then dropped (its default applies again).
    operator_client.patch(url, {"variables": {"days": 9, "token": "tok-new"}}, format="json")
    schedule.refresh_from_db()
    assert schedule.unsealed_variables()["token"] == "tok-new"
    operator_client.patch(url, {"variables": {"days": 9, "token": ""}}, format="json")
    schedule.refresh_from_db()
    assert schedule.unsealed_variables() == {"days": 9}


def test_variables_replace_the_stored_ones_so_one_left_out_takes_its_default(
    operator_client, schedule
):
    Schedule.objects.filter(pk=schedule.pk).update(variables={"days": 7, "region": "us"})
    shown = operator_client.patch(
        f"{SCHEDULES}{schedule.pk}/", {"variables": {"days": 8}}, format="json"
    ).json()
    assert shown["variables"] == {"days": 8}


def test_a_new_template_checks_the_variables_against_it(operator_client, schedule, greet):
    errors = errors_of(
        operator_client.patch(f"{SCHEDULES}{schedule.pk}/", {"template": "greet"}, format="json")
    )
    # The stored (non-secret) values are checked against greet, which has no `days`;
    # the old template's secret is not carried over.
    assert errors == {"variables.days": ["unknown variable"]}
    moved = operator_client.patch(
        f"{SCHEDULES}{schedule.pk}/",
        {"template": "greet", "variables": {"times": "2"}},
        format="json",
    ).json()
    assert moved["template"]["slug"] == "greet" and moved["variables"] == {"times": 2}
    schedule.refresh_from_db()
    assert schedule.template_id == greet.pk and schedule.variables == {"times": 2}


def test_a_bad_patch_changes_nothing_and_names_every_problem(operator_client, schedule):
    before = (schedule.cron, schedule.timezone, schedule.variables, schedule.next_run_at)
    errors = errors_of(
        operator_client.patch(
            f"{SCHEDULES}{schedule.pk}/",
            {"cron": "0 25 * * *", "timezone": "Europe/Atlantis", "variables": {"days": 0}},
            format="json",
        )
    )
    assert set(errors) == {"cron", "timezone", "variables.days"}
    schedule.refresh_from_db()
    assert (schedule.cron, schedule.timezone, schedule.variables, schedule.next_run_at) == before


def test_re_enabling_a_paused_schedule_clears_its_reason_once_its_variables_validate(
    operator_client, schedule
):
    reason = "paused: its variables no longer validate (variables.days: must be at most 30)"
    Schedule.objects.filter(pk=schedule.pk).update(
        enabled=False, next_run_at=None, paused_reason=reason, variables={"days": 45}
    )
    url = f"{SCHEDULES}{schedule.pk}/"
    assert operator_client.get(url).json()["paused_reason"] == reason
    assert errors_of(operator_client.patch(url, {"enabled": True}, format="json")) == {
        "variables.days": ["must be at most 30"]
    }
    schedule.refresh_from_db()
    assert schedule.paused_reason == reason and not schedule.enabled
    shown = operator_client.patch(
        url, {"enabled": True, "variables": {"days": 30}}, format="json"
    ).json()
    assert shown["enabled"] is True and shown["paused_reason"] is None and shown["next_run_at"]
    schedule.refresh_from_db()
    assert schedule.paused_reason == "" and schedule.enabled and schedule.variables == {"days": 30}


def test_a_schedule_whose_template_was_archived_cannot_be_enabled(
    operator_client, schedule, nightly
):
    Schedule.objects.filter(pk=schedule.pk).update(
        enabled=False, next_run_at=None, paused_reason="paused: its template is archived"
    )
    nightly.archived_at = timezone.now()
    nightly.save(update_fields=["archived_at"])
    url = f"{SCHEDULES}{schedule.pk}/"
    errors = errors_of(operator_client.patch(url, {"enabled": True}, format="json"))
    assert list(errors) == ["enabled"] and "archived" in errors["enabled"][0]
    # Off, it can still be renamed; it stays paused, with its reason.
    shown = operator_client.patch(url, {"name": "old nightly"}, format="json").json()
    assert (
        shown["name"] == "old nightly"
        and shown["paused_reason"] == "paused: its template is archived"
    )


def test_the_dispatcher_runs_a_schedule_made_here_with_its_secret(
    operator_client, workspace, nightly
):
    created = create(operator_client, variables={"days": 4, "token": "tok-run"}).json()
    due = timezone.datetime.fromisoformat(created["next_run_at"])
    assert run_due_schedules(now=due) == 1
    job = Job.objects.get(workspace=workspace)
    assert (
        job.trigger == "schedule"
        and job.unsealed_values()[0]["days"] == 4
        and job.unsealed_values()[0]["token"] == "tok-run"
    )
    shown = operator_client.get(f"{SCHEDULES}{created['id']}/").json()
    assert shown["last_job_id"] == str(job.pk) and shown["last_run_at"]
    assert timezone.datetime.fromisoformat(shown["next_run_at"]) > due


# --- reading and deleting ---------------------------------------------------------------------------


def test_the_list_is_by_template_name_then_cron(viewer_client, workspace, schedule, greet):
    first = Schedule.objects.create(workspace=workspace, template=greet, cron="5 * * * *")
    second = Schedule.objects.create(workspace=workspace, template=greet, cron="9 * * * *")
    rows = viewer_client.get(SCHEDULES).json()["results"]
    assert [row["id"] for row in rows] == [str(first.pk), str(second.pk), str(schedule.pk)]
    assert rows[2]["variables"] == {"days": 7, "token": "***"}


def test_only_an_admin_deletes_a_schedule_and_its_jobs_stay(
    operator_client, admin_client, schedule, nightly
):
    run_due_schedules(now=schedule.next_run_at)
    job = Job.objects.get()
    url = f"{SCHEDULES}{schedule.pk}/"
    refused = operator_client.delete(url)
    assert (
        refused.status_code == 403
        and refused.json()["detail"] == "This needs the admin role; yours is operator."
    )
    assert admin_client.delete(url).status_code == 204
    assert admin_client.get(url).status_code == 404 and admin_client.delete(url).status_code == 404
    assert Job.objects.filter(pk=job.pk).exists()


# --- who may ------------------------------------------------------------------------------------


def send(client, method, url, body=None):
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


def test_a_viewer_reads_schedules_but_cannot_add_change_or_delete_them(viewer_client, schedule):
    url = f"{SCHEDULES}{schedule.pk}/"
    assert (
        viewer_client.get(SCHEDULES).status_code == 200
        and viewer_client.get(url).status_code == 200
    )
    refused = [
        create(viewer_client),
        viewer_client.patch(url, {"name": "mine"}, format="json"),
        viewer_client.delete(url),
    ]
    assert [response.status_code for response in refused] == [403, 403, 403]
    assert refused[0].json() == {
        "detail": "This needs the operator role; yours is viewer.",
        "code": "permission_denied",
    }
    assert refused[2].json()["detail"] == "This needs the admin role; yours is viewer."
    schedule.refresh_from_db()
    assert schedule.name == "nightly eu" and Schedule.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("viewer", [200, 403, 200, 403, 403]),
        ("operator", [200, 201, 200, 200, 403]),
        ("admin", [200, 201, 200, 200, 204]),
    ],
)
def test_the_role_matrix(api_key, schedule, role, expected):
    client = client_for(api_key(role))
    url = f"{SCHEDULES}{schedule.pk}/"
    statuses = [
        client.get(SCHEDULES).status_code,
        create(client).status_code,
        client.get(url).status_code,
        client.patch(url, {"name": "renamed"}, format="json").status_code,
        client.delete(url).status_code,
    ]
    assert statuses == expected


# --- nothing of another workspace -----------------------------------------------------------------


def test_another_workspaces_schedule_answers_like_an_id_that_never_existed(
    outsider_client, schedule
):
    theirs = f"{SCHEDULES}{schedule.pk}/"
    missing = f"{SCHEDULES}{uuid.uuid4()}/"
    for method, body in (
        ("get", None),
        ("patch", {"enabled": False}),
        ("patch", {"nope": 1}),
        ("delete", None),
    ):
        foreign = send(outsider_client, method, theirs, body)
        absent = send(outsider_client, method, missing, body)
        assert foreign.status_code == 404, (method, foreign.content)
        assert foreign.content == absent.content == b'{"detail":"Not found.","code":"not_found"}'
    assert outsider_client.get(SCHEDULES).json()["results"] == []
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.name == "nightly eu"
