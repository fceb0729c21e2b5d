"""Script injection through argv and output injection through $JOBSITE_OUTPUT, as issue 12
tried them: through template validation, job creation, the trigger URL and real
`shell` steps. Every hostile value is either refused with a 400 naming the field (and
the step and argument) or reaches its program as one literal argument: 0 executions."""

import textwrap

import pytest
from rest_framework.test import APIClient

from jobs.models import Job
from jobs.services import create_job
from tests.jobs.helpers import make_template

TEMPLATES = "/api/v1/templates/"
JOBS = "/api/v1/jobs/"

# Each one creates MARKER if a shell ever runs it as code.
CODE_VALUES = [
    "$(touch MARKER)", "`touch MARKER`", ";touch MARKER", "| touch MARKER", "&& touch MARKER",
    "'; touch MARKER; '", '"; touch MARKER; "', "$(id)", "`id`", ";id",
]  # fmt: skip
DASH_VALUES = ["-la", "--help", "-e", "-rf", "--output=/etc/passwd", "-", "-- -x"]


def template_source(command):
    return textwrap.dedent(
        f"""
        slug: argv
        name: Argv
        variables:
          x: {{type: string, required: true, pattern: "[A-Za-z0-9_. -]+|.*"}}
        steps:
          - id: run
            type: shell
            with:
              command: {command}
        settings:
          trigger_url: {{enabled: true}}
        """
    )


@pytest.mark.parametrize(
    ("command", "index", "program"),
    [
        ('["bash", "-c", "echo {{ vars.x }}"]', 2, "bash -c"),
        ('["sh", "-ec", "ls {{ vars.x }}"]', 2, "sh -ec"),
        ('["/usr/bin/env", "python3", "-c", "print({{ vars.x }})"]', 3, "-c"),
        ('["node", "-e", "{{ vars.x }}"]', 2, "node -e"),
        ('["perl", "-e", "{{ vars.x }}"]', 2, "perl -e"),
        ('["ruby", "-e", "{{ vars.x }}"]', 2, "ruby -e"),
        ('["{{ vars.x }}", "--version"]', 0, "program to run"),
    ],
)
def test_a_placeholder_in_code_run_by_an_interpreter_is_refused_naming_the_step_and_argument(
    admin_client, command, index, program
):
    response = admin_client.post(TEMPLATES, {"source": template_source(command)}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    field = f"steps.run.with.command[{index}]"
    assert list(errors) == [field], errors
    assert f"argument {index}" in errors[field][0] and program in errors[field][0]
    # The same definition as an inline recipe is refused the same way, and nothing exists.
    recipe = admin_client.post(
        JOBS, {"recipe": {"steps": [{"id": "run", "type": "shell", "with": {"command": eval(command)}}],
                          "variables": {"x": {"type": "string"}}}, "variables": {"x": "$(id)"}},
        format="json",
    )  # fmt: skip
    assert (
        recipe.status_code == 400
        and f"recipe.steps.run.with.command[{index}]" in recipe.json()["errors"]
    )
    assert not Job.objects.exists()


def test_values_as_positional_arguments_are_the_safe_idiom_and_are_accepted(admin_client):
    command = '["bash", "-c", "printf \\"%s\\\\n\\" \\"$1\\"", "_", "{{ vars.x }}"]'
    response = admin_client.post(TEMPLATES, {"source": template_source(command)}, format="json")
    assert response.status_code == 201, response.json()


@pytest.fixture
def list_template(workspace):
    return make_template(workspace, template_source('["ls", "{{ vars.x }}"]'))


@pytest.mark.parametrize("value", DASH_VALUES)
def test_a_value_starting_with_a_dash_is_refused_where_it_would_be_an_option(
    list_template, admin_client, operator_client, value
):
    validate = operator_client.post(
        f"{TEMPLATES}argv/validate/", {"variables": {"x": value}}, format="json"
    )
    assert validate.status_code == 200 and validate.json()["valid"] is False  # a dry run's verdict
    message = validate.json()["errors"]["variables.x"][0]
    assert "argument 1 of step 'run'" in message and "'-'" in message
    created = operator_client.post(
        JOBS, {"template": "argv", "variables": {"x": value}}, format="json"
    )
    assert created.status_code == 400 and "variables.x" in created.json()["errors"]
    key = admin_client.post(f"{TEMPLATES}argv/trigger-key/").json()["key"]
    triggered = APIClient().get("/api/hooks/acme/argv/trigger/", {"key": key, "x": value})
    assert triggered.status_code == 400 and b"x" in triggered.content
    assert not Job.objects.exists()


def test_a_dash_value_is_fine_after_a_double_dash_or_when_the_variable_allows_it(workspace):
    after = make_template(workspace, template_source('["ls", "--", "{{ vars.x }}"]'))
    create_job(workspace, template=after, variables={"x": "-la"}, start=False)
    allowed = make_template(
        workspace,
        template_source('["ls", "{{ vars.x }}"]')
        .replace(
            "x: {type: string, required: true,",
            "x: {type: string, required: true, allow_leading_dash: true,",
        )
        .replace("slug: argv", "slug: argv2"),
    )
    create_job(workspace, template=allowed, variables={"x": "-la"}, start=False)
    assert Job.objects.count() == 2


def test_hostile_values_reach_a_real_shell_step_as_one_literal_argument(
    workspace, run_tasks, tmp_path
):
    marker = tmp_path / "MARKER"
    template = make_template(
        workspace,
        template_source(
            '["bash", "-c", "printf \\"got:%s\\\\n\\" \\"$1\\"; echo \\"v=$VAR_X\\" >> \\"$JOBSITE_OUTPUT\\"", "_", "{{ vars.x }}"]'
        ),
    )
    jobs = [
        create_job(
            workspace, template=template, variables={"x": value.replace("MARKER", str(marker))}
        )
        for value in CODE_VALUES
    ]
    run_tasks()
    for job, value in zip(jobs, CODE_VALUES, strict=True):
        job.refresh_from_db()
        step = job.steps.get()
        expected = value.replace("MARKER", str(marker))
        assert job.status == "succeeded", job.error
        assert step.outputs == {"v": expected}
        assert job.events.filter(message=f"got:{expected}").exists()
    assert not marker.exists()


def test_a_step_output_that_would_be_an_option_fails_the_step_before_it_runs(
    workspace, run_tasks, tmp_path
):
    marker = tmp_path / "ran"
    template = make_template(
        workspace,
        f"""
        slug: out-dash
        name: Output dash
        steps:
          - id: make
            type: shell
            with:
              script: echo "name=--help" >> "$JOBSITE_OUTPUT"
          - id: use
            type: shell
            needs: [make]
            with:
              command: ["touch", "{marker}", "{{{{ steps.make.outputs.name }}}}"]
        """,
    )
    job = create_job(workspace, template=template)
    run_tasks()
    job.refresh_from_db()
    use = job.steps.get(step_id="use")
    assert use.status == "failed" and "argument 2 of step 'use'" in use.error
    assert not marker.exists()


OUTPUT_TEMPLATE = """
slug: outputs
name: Outputs
variables:
  x: {type: TYPE, required: true}
steps:
  - id: put
    type: shell
    with:
      script: |
        echo "val=$VAR_X" >> "$JOBSITE_OUTPUT"
"""

HEREDOC_TEMPLATE = """
slug: heredoc
name: Heredoc
variables:
  x: {type: text, required: true}
steps:
  - id: put
    type: shell
    with:
      script: |
        delimiter="EOF_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n')"
        { echo "val<<$delimiter"; echo "$VAR_X"; echo "$delimiter"; } >> "$JOBSITE_OUTPUT"
        echo "done=yes" >> "$JOBSITE_OUTPUT"
"""

SMUGGLED = "a\nadmin=true\nval=overwritten"


def test_a_newline_cannot_smuggle_an_output_key_through_the_key_value_idiom(
    workspace, operator_client
):
    make_template(workspace, OUTPUT_TEMPLATE.replace("TYPE", "string"))
    response = operator_client.post(
        JOBS, {"template": "outputs", "variables": {"x": SMUGGLED}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "variables.x": ["must be one line (use a text variable for several lines)"]
    }
    assert not Job.objects.exists()


def test_the_documented_heredoc_form_keeps_a_multi_line_value_whole(workspace, run_tasks):
    template = make_template(workspace, HEREDOC_TEMPLATE)
    hostile = SMUGGLED + "\nEOF\nEOF_0000\n" + "done=no"
    job = create_job(workspace, template=template, variables={"x": hostile})
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.steps.get().outputs == {"val": hostile, "done": "yes"}
