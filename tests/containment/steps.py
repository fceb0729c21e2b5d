"""Run one shell step the way a workspace admin would: a template, a job, the worker."""

import textwrap

from jobs.services import create_job
from tests.containment.conftest import log_lines
from tests.jobs.helpers import make_template


def shell_template(workspace, script, slug="probe", timeout=None, limits=None):
    """A template of one shell step `probe` running `script`; `limits` ({name: value})
    become its `settings.limits`."""
    timeout_line = f"    timeout: {timeout}\n" if timeout else ""
    source = (
        f"slug: {slug}\nname: {slug}\nsteps:\n  - id: probe\n    type: shell\n{timeout_line}"
        "    with:\n      script: |\n"
        + textwrap.indent(textwrap.dedent(script).strip() + "\n", " " * 8)
    )
    if limits:
        source += "settings:\n  limits:\n" + "".join(
            f"    {key}: {value}\n" for key, value in limits.items()
        )
    return make_template(workspace, source)


def run_shell_step(workspace, run_tasks, script, **template_options):
    """(job, its log lines, its one step) after the step ran to its end."""
    job = create_job(workspace, template=shell_template(workspace, script, **template_options))
    run_tasks()
    job.refresh_from_db()
    return job, log_lines(job), job.steps.get()
