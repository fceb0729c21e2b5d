"""Containment tests (issue 11, SPEC §13): real shell steps, written as a workspace
admin would write them, run through the engine (create_job → the step runner) and
fail when a step can see or reach what it must not.

They skip when no working bwrap is found and JOBSITE_SANDBOX is left at `auto`; CI sets
JOBSITE_SANDBOX=bwrap so they cannot skip there. Run with JOBSITE_SANDBOX=off they run
and fail: that is what a step could see before the sandbox.
"""

import pytest
from django.conf import settings

from jobs.executors import sandbox
from jobs.models import EventKind


@pytest.fixture(autouse=True)
def needs_the_sandbox():
    if settings.JOBSITE_SANDBOX == "auto" and (problem := sandbox.bwrap_problem()):
        pytest.skip(f"no working bwrap here: {problem}")


def log_lines(job):
    return [event.message for event in job.events.filter(kind=EventKind.LOG).order_by("seq")]
