import textwrap

from jobs.models import StepRun
from templates_app.definition import load_definition
from templates_app.models import save_template_version

# A template of one `noop` step called `only` (eager dispatch and doorbell tests).
ONE_NOOP = """
slug: one-noop
name: One noop
steps:
  - {id: only, type: noop}
"""


def make_template(workspace, source):
    definition = load_definition(textwrap.dedent(source))
    return save_template_version(workspace, definition, source=source)


def events_of(job, kind=None):
    qs = job.events.order_by("seq")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs)


def step_statuses(job):
    return {step.step_id: step.status for step in job.steps.all()}


def step_of(job, step_id="only"):
    return StepRun.objects.get(job=job, step_id=step_id)
