import textwrap

from templates_app.definition import load_definition
from templates_app.models import save_template_version


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
