from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.automation.schedules import (
    ScheduleError,
    next_run_after,
    run_due_schedules,
    save_schedule,
)
from jobs.models import Job, Schedule
from jobs.worker.dispatcher import dispatch_once
from tests.jobs.helpers import make_template

TEMPLATE = """
slug: nightly
name: Nightly
variables:
  days: {type: integer, default: 1, max: 30}
steps:
  - {id: s, type: noop}
"""


def test_next_run_follows_the_schedules_timezone():
    after = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # 02:30 in Paris (UTC+1 in March before DST) is 01:30 UTC.
    assert next_run_after("30 2 * * *", "Europe/Paris", after) == datetime(
        2026, 3, 2, 1, 30, tzinfo=UTC
    )
    with pytest.raises(ScheduleError) as bad_cron:
        next_run_after("every day", "UTC", after)
    assert bad_cron.value.field == "cron"
    with pytest.raises(ScheduleError) as bad_tz:
        next_run_after("* * * * *", "Mars/Olympus", after)
    assert bad_tz.value.field == "timezone"


def test_after_downtime_a_schedule_runs_once_not_a_burst(workspace):
    template = make_template(workspace, TEMPLATE)
    schedule = save_schedule(
        Schedule(workspace=workspace, template=template, cron="*/5 * * * *", variables={"days": 3})
    )
    schedule.save()
    assert schedule.next_run_at > timezone.now()
    # The dispatcher was down for three hours: 36 runs were missed.
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - timedelta(hours=3))
    assert dispatch_once()["scheduled"] == 1
    assert run_due_schedules() == 0
    job = Job.objects.get()
    assert job.trigger == "schedule" and job.variables == {"days": 3}
    schedule.refresh_from_db()
    assert schedule.last_job == job and schedule.next_run_at > timezone.now()


def test_a_schedule_whose_variables_no_longer_validate_is_paused_with_the_reason(workspace):
    template = make_template(workspace, TEMPLATE)
    schedule = Schedule.objects.create(
        workspace=workspace,
        template=template,
        cron="* * * * *",
        variables={"days": 99},
        next_run_at=timezone.now() - timedelta(seconds=1),
    )
    assert run_due_schedules() == 0
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    assert "variables.days" in schedule.paused_reason and "at most 30" in schedule.paused_reason
    assert not Job.objects.exists()


def test_a_cron_naming_no_date_that_ever_comes_is_refused():
    with pytest.raises(ScheduleError) as never:
        next_run_after("0 3 31 2 *", "UTC", timezone.now())
    assert never.value.field == "cron" and "no date that ever comes" in str(never.value)
