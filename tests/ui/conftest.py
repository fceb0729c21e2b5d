"""Fixtures for the page tests: logged-in clients per role, templates with every
variable type, and ways to put jobs into each state without a worker."""

import re

import pytest
from django.test import Client

from jobs.engine.events import record_events
from jobs.engine.steps import claim_step, finish_step
from jobs.engine.transitions import locked_job
from jobs.models import EventKind
from jobs.services import create_job
from tests.jobs.helpers import make_template

EVERY_TYPE = """
slug: every-type
name: Every type
type: demo
description: One variable of each type.
variables:
  title: {type: string, default: hello, pattern: "[a-z ]+", max: 40, description: A lower-case title.}
  notes: {type: text}
  days: {type: integer, default: 7, min: 1, max: 365}
  ratio: {type: number, default: 0.5, min: 0, max: 1}
  verbose: {type: boolean, default: true}
  region: {type: choice, choices: [eu, us, apac], required: true}
  regions: {type: multichoice, choices: [eu, us, apac]}
  day: {type: date}
  at: {type: datetime}
  token: {type: secret, default: hunter2-secret-default}
steps:
  - id: only
    type: noop
    with: {outputs: {ok: true}}
"""

TWO_STEPS = """
slug: two-steps
name: Two steps
variables:
  who: {type: string, default: world}
  password: {type: secret, default: top-secret-pw}
steps:
  - id: first
    type: noop
  - id: second
    type: noop
    needs: [first]
"""


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def operator_client(operator_user):
    return client_for(operator_user)


@pytest.fixture
def viewer_client(viewer_user):
    return client_for(viewer_user)


@pytest.fixture
def every_type(workspace):
    return make_template(workspace, EVERY_TYPE)


@pytest.fixture
def two_steps(workspace):
    return make_template(workspace, TWO_STEPS)


def add_log(job, *lines, step_id="first", level="INFO"):
    """Append log events to a job's stream as a worker would (under its lock)."""
    with locked_job(job.pk) as locked:
        record_events(
            locked,
            [
                {"kind": EventKind.LOG, "step_id": step_id, "level": level, "message": line}
                for line in lines
            ],
        )
    job.refresh_from_db()


def running_job(template, **kwargs):
    """A started job whose first step a (pretend) worker has claimed."""
    job = create_job(template.workspace, template=template, created_by="user:test", **kwargs)
    step = job.steps.get(step_id=job.definition["steps"][0]["id"])
    assert claim_step(step.pk, step.attempt, "test-worker")
    job.refresh_from_db()
    return job


def finish_job(job, fail=()):
    """Run a started job to its end as workers would: each ready step is claimed and
    succeeds, except the steps named in `fail`, which fail."""
    from jobs.executors.base import Outcome

    for _ in range(50):
        job.refresh_from_db()
        if job.is_terminal:
            return job
        for step in job.steps.filter(status__in=["queued", "running"]):
            if step.status == "queued":
                claim_step(step.pk, step.attempt, "test-worker")
                step.refresh_from_db()
            outcome = (
                Outcome.fail("boom", exit_code=1)
                if step.step_id in fail
                else Outcome.ok({"done": step.step_id})
            )
            finish_step(step.pk, step.attempt, outcome)
    raise AssertionError(f"job {job.pk} did not finish: {job.status}")


def submission_of(response):
    """The per-render token of the (first) start or rerun form on a page."""
    match = re.search(r'name="submission" value="([^"]+)"', response.content.decode())
    assert match, "no submission token on the page"
    return match.group(1)
