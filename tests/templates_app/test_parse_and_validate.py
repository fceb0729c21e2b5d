import copy
import json

import pytest
import yaml

from templates_app.definition import DefinitionError, load_definition, source_guard

# The example of SPEC §3, verbatim.
SPEC_EXAMPLE = """\
slug: nightly-export
name: Nightly export
type: export
description: Export the last N days of orders and publish a summary.
variables:
  days:       {type: integer, default: 7, min: 1, max: 365}
  region:     {type: choice, choices: [eu, us, apac], required: true}
  api_token:  {type: secret, required: true}
steps:
  - id: fetch
    type: http
    with:
      method: GET
      url: "https://example.invalid/orders?days={{ vars.days }}&region={{ vars.region }}"
      headers: {Authorization: "Bearer {{ vars.api_token }}"}
    timeout: 30
    retries: 2
  - id: transform
    type: shell
    needs: [fetch]
    with:
      script: |
        # variables arrive as environment variables, never spliced into the script
        python3 transform.py --region "$VAR_REGION" > "$JOBSITE_ARTIFACTS/orders.csv"
        echo "rows=$(wc -l < "$JOBSITE_ARTIFACTS/orders.csv")" >> "$JOBSITE_OUTPUT"
  - id: report
    type: report
    needs: [transform]
    with:
      markdown: |
        # Export for {{ vars.region }}
        {{ steps.transform.outputs.rows }} rows exported.
settings:
  timeout: 3600            # whole job, seconds
  concurrency: {limit: 1, key: "{{ vars.region }}", when_full: queue}   # queue | reject | cancel_previous
  trigger_url: {enabled: true}   # §6.4; a per-template key is generated and shown once
"""


def example():
    """The SPEC example as a fresh mapping that a test may change."""
    return yaml.safe_load(SPEC_EXAMPLE)


def minimal(**changes):
    definition = {"slug": "t", "name": "T", "steps": [{"id": "a", "type": "noop"}]}
    definition.update(changes)
    return definition


def errors_of(source, **kwargs):
    with pytest.raises(DefinitionError) as caught:
        load_definition(source, **kwargs)
    return caught.value.errors


def assert_error(errors, path, fragment):
    assert path in errors, f"no error at {path!r}; errors: {errors}"
    assert any(fragment in message for message in errors[path]), errors[path]


# --- valid forms ----------------------------------------------------------------------------


def test_the_spec_example_in_yaml_loads_into_the_normalized_form():
    definition = load_definition(SPEC_EXAMPLE)

    assert definition["slug"] == "nightly-export"
    assert definition["variables"]["days"] == {
        "type": "integer", "required": False, "default": 7,
        "description": "", "label": "", "min": 1, "max": 365,
    }  # fmt: skip
    assert definition["variables"]["region"]["choices"] == ["eu", "us", "apac"]
    assert [step["id"] for step in definition["steps"]] == ["fetch", "transform", "report"]
    fetch = definition["steps"][0]
    assert fetch["with"]["headers"] == {"Authorization": "Bearer {{ vars.api_token }}"}
    assert (fetch["timeout"], fetch["retries"], fetch["retry_backoff"]) == (30, 2, 2.0)
    assert definition["steps"][1]["needs"] == ["fetch"]
    assert definition["steps"][2]["name"] == "report"
    assert definition["result"] is None
    assert definition["settings"] == {
        "timeout": 3600,
        "concurrency": {"limit": 1, "key": "{{ vars.region }}", "when_full": "queue"},
        "trigger_url": {"enabled": True},
        "log_limit_bytes": 10485760,
        "limits": {},
    }


def test_the_spec_example_in_json_gives_the_same_definition():
    as_json = json.dumps(example(), indent=2)

    assert load_definition(as_json) == load_definition(SPEC_EXAMPLE)


def test_an_already_parsed_mapping_gives_the_same_definition_and_is_left_unchanged():
    mapping = example()
    untouched = copy.deepcopy(mapping)

    assert load_definition(mapping) == load_definition(SPEC_EXAMPLE)
    assert mapping == untouched


def test_the_normalized_definition_is_plain_json_data():
    definition = load_definition(SPEC_EXAMPLE)

    assert json.loads(json.dumps(definition)) == definition


def test_a_minimal_template_gets_every_default():
    definition = load_definition("slug: t\nname: T\nsteps: [{id: a, type: noop}]\n")

    assert definition == {
        "slug": "t", "name": "T", "type": "", "description": "", "variables": {},
        "steps": [{
            "id": "a", "type": "noop", "name": "a", "with": {}, "needs": [], "params": {},
            "timeout": None, "retries": 0, "retry_backoff": 2.0, "idempotent": True,
            "continue_on_failure": False,
        }],
        "result": None,
        "settings": {
            "timeout": None, "concurrency": None, "trigger_url": {"enabled": False},
            "log_limit_bytes": 10485760,
            "limits": {},
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("step", "idempotent"),
    [
        ({"type": "shell", "with": {"command": ["true"]}}, False),
        ({"type": "http", "with": {"url": "https://example.invalid/"}}, False),
        ({"type": "noop"}, True),
        ({"type": "sleep", "with": {"seconds": 1}}, True),
        ({"type": "report", "with": {"markdown": "done"}}, True),
        ({"type": "shell", "with": {"command": ["true"]}, "idempotent": True}, True),
        ({"type": "noop", "idempotent": False}, False),
    ],
)
def test_idempotent_defaults_to_false_for_steps_with_side_effects(step, idempotent):
    definition = load_definition(minimal(steps=[{"id": "a", **step}]))

    assert definition["steps"][0]["idempotent"] is idempotent


def test_an_inline_recipe_needs_no_slug_or_name():
    definition = load_definition({"steps": [{"id": "a", "type": "noop"}]}, recipe=True)

    assert (definition["slug"], definition["name"]) == ("recipe", "Inline recipe")


def test_a_step_may_declare_params_and_use_them_in_its_with():
    definition = load_definition(minimal(steps=[{
        "id": "resize", "type": "noop", "params": {"width": {"type": "integer", "required": True}},
        "with": {"outputs": {"width": "{{ params.width }}"}},
    }]))  # fmt: skip

    assert definition["steps"][0]["params"]["width"]["required"] is True


def test_a_shell_command_argv_may_use_substitution():
    step = {"id": "a", "type": "shell", "with": {"command": ["echo", "{{ vars.who }}"]}}

    load_definition(minimal(variables={"who": {"type": "string"}}, steps=[step]))


def test_outputs_of_a_step_upstream_through_several_needs_may_be_used():
    steps = [
        {"id": "a", "type": "noop", "with": {"outputs": {"n": 1}}},
        {"id": "b", "type": "noop", "needs": ["a"]},
        {
            "id": "c",
            "type": "report",
            "needs": "b",
            "with": {"markdown": "{{ steps.a.outputs.n }}"},
        },
    ]

    assert load_definition(minimal(steps=steps))["steps"][2]["needs"] == ["b"]


def test_the_result_template_may_use_any_step_and_job_fields():
    steps = [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]
    result = "{{ job.name }} ({{ job.id }}) in {{ workspace.slug }}: {{ steps.b.outputs.n }}"

    assert load_definition(minimal(steps=steps, result=result))["result"] == result


def test_a_yaml_date_default_becomes_an_iso_string():
    definition = load_definition(
        "slug: t\nname: T\nvariables: {since: {type: date, default: 2024-01-31}}\n"
        "steps: [{id: a, type: noop}]\n"
    )

    assert definition["variables"]["since"]["default"] == "2024-01-31"


# --- the document ---------------------------------------------------------------------------


def test_a_yaml_syntax_error_reports_its_line():
    errors = errors_of("slug: t\nname: T\nsteps:\n  - id: a\n   type: noop\n")

    assert_error(errors, "source", "invalid YAML at line 5")


def test_a_json_syntax_error_reports_its_line():
    errors = errors_of('{\n  "slug": "t",\n  "name": "T"\n  "steps": []\n}')

    assert_error(errors, "source", "invalid JSON at line 4, column 3: Expecting ',' delimiter")


@pytest.mark.parametrize(("source", "fragment"), [
    ("- a\n- b\n", "must be a mapping of keys to values, got a list"),
    ("just text", "got a str"),
    ("", "the definition is empty"),
    (42, "must be YAML or JSON text, or a mapping"),
])  # fmt: skip
def test_a_document_that_is_not_a_mapping_is_refused(source, fragment):
    assert_error(errors_of(source), "source", fragment)


def test_a_key_written_twice_in_yaml_is_refused():
    errors = errors_of("slug: t\nname: T\nsteps: [{id: a, type: noop}]\nname: U\n")

    assert_error(errors, "source", "found duplicate key 'name'")


_BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


@pytest.mark.parametrize("source", [
    "slug: x\nname: x\nsteps: []\n" + _BOMB,  # 9^9 values from a few hundred bytes
    "&a [*a]",  # an alias inside itself
    "[" * 50_000 + "]" * 50_000,  # deeper than the YAML parser can recurse
    "{" * 5_000,  # the same in flow style
    '{"a": ' * 50_000 + "1" + "}" * 50_000,  # well-formed JSON, deeper than json can recurse
    b"[" * 50_000 + b"]" * 50_000,  # bytes go the same way
], ids=["alias-bomb", "self-alias", "deep-yaml", "deep-flow", "deep-json", "deep-bytes"])  # fmt: skip
def test_an_explosive_source_is_refused_on_source_whoever_reads_it(source):
    """The reader under the UI, the admin, the API and inline recipes refuses it (and
    comes back at once rather than expanding billions of values or overflowing the stack);
    a template using a few anchors and aliases still loads."""
    assert_error(
        errors_of(source),
        "source",
        "nests too deeply or its YAML aliases expand past 100000 values",
    )
    fine = "slug: t\nname: T\nvariables: {a: &text {type: string}, b: *text}\nsteps: [{id: s, type: noop}]\n"
    assert list(load_definition(fine)["variables"]) == ["a", "b"]


@pytest.mark.parametrize("source", ["[" * 50_000, "a: " + "{x: " * 600 + "1" + "}" * 600])
def test_a_deep_source_is_refused_before_the_yaml_composer_starts(source, monkeypatch):
    # The composer's work grows with the square of the depth it reaches: a second of a
    # web process's CPU per request for 50,000 brackets, before it gives up.
    def composer(*args, **kwargs):
        raise AssertionError("the YAML composer ran")

    monkeypatch.setattr(source_guard.yaml, "compose", composer)
    assert_error(errors_of(source), "source", "nests too deeply")


def test_nesting_a_template_may_use_still_loads():
    nested = "{a: " * 50 + "1" + "}" * 50
    source = (
        f"slug: t\nname: T\nsteps: [{{id: s, type: noop, with: {{outputs: {{x: {nested}}}}}}}]\n"
    )
    assert load_definition(source)["steps"][0]["with"]["outputs"]["x"]["a"]["a"]["a"]


def test_a_value_that_is_not_json_data_is_refused():
    errors = errors_of(
        "slug: t\nname: T\nsteps: [{id: a, type: noop, with: {outputs: {x: .nan}}}]\n"
    )

    assert_error(errors, "steps[0].with.outputs.x", "must be a finite number")


def test_an_unknown_top_level_key_is_refused():
    assert_error(errors_of(minimal(stepz=[])), "stepz", "unknown key 'stepz'")


@pytest.mark.parametrize(("changes", "path", "fragment"), [
    ({"slug": None}, "slug", "is required"),
    ({"slug": "Nightly"}, "slug", "lowercase letters, digits and hyphens"),
    ({"slug": "-nightly"}, "slug", "starting with a letter or digit"),
    ({"slug": "a" * 101}, "slug", "1 to 100"),
    ({"name": None}, "name", "is required"),
    ({"name": "  "}, "name", "must not be blank"),
    ({"name": 3}, "name", "must be a string"),
    ({"type": "x" * 101}, "type", "at most 100 characters"),
    ({"result": ["not", "text"]}, "result", "must be markdown text"),
])  # fmt: skip
def test_a_template_needs_a_valid_slug_and_name(changes, path, fragment):
    definition = {key: value for key, value in minimal(**changes).items() if value is not None}

    assert_error(errors_of(definition), path, fragment)


def test_every_problem_is_reported_at_once_and_reads_as_path_colon_message():
    definition = minimal(slug="Bad Slug", variables={"Days": {"type": "integer"}}, extra=1)
    definition["steps"].append({"id": "a", "type": "nope"})

    with pytest.raises(DefinitionError) as caught:
        load_definition(definition)

    assert set(caught.value.errors) == {
        "slug",
        "variables.Days",
        "extra",
        "steps[1].id",
        "steps[1].type",
    }
    assert "steps[1].id: duplicate step id 'a'" in str(caught.value).splitlines()


# --- variables ------------------------------------------------------------------------------


@pytest.mark.parametrize(("declaration", "path", "fragment"), [
    ({"type": "integr"}, "variables.v.type", "unknown type 'integr'; use one of: string, text, integer"),
    ({"type": "choice"}, "variables.v.choices", "a choice variable needs a non-empty list of choices"),
    ({"type": "multichoice", "choices": []}, "variables.v.choices", "needs a non-empty list"),
    ({"type": "choice", "choices": ["a", "a"]}, "variables.v.choices", "must not repeat"),
    ({"type": "string", "choices": ["a"]}, "variables.v.choices", "only allowed for choice"),
    ({"type": "boolean", "min": 1}, "variables.v.min", "only allowed for integer, number"),
    ({"type": "date", "max": 1}, "variables.v.max", "only allowed for integer, number"),
    ({"type": "integer", "min": "1"}, "variables.v.min", "must be a number"),
    ({"type": "string", "max": -1}, "variables.v.max", "whole number of characters"),
    ({"type": "integer", "min": 10, "max": 5}, "variables.v.min", "min (10) is greater than max (5)"),
    ({"type": "string", "pattern": "[a-"}, "variables.v.pattern", "invalid regular expression"),
    ({"type": "integer", "pattern": "[0-9]+"}, "variables.v.pattern", "only allowed for string"),
    ({"type": "integer", "default": "abc"}, "variables.v.default", "invalid default: expected an integer, got 'abc'"),
    ({"type": "integer", "min": 1, "default": 0}, "variables.v.default", "must be at least 1"),
    ({"type": "choice", "choices": ["eu"], "default": "us"}, "variables.v.default", "must be one of: eu"),
    ({"type": "string", "pattern": "[a-z]+", "default": "A1"}, "variables.v.default", "must match the pattern"),
    ({"type": "string", "requred": True}, "variables.v.requred", "unknown key 'requred'"),
    ({"type": "string", "required": "yes"}, "variables.v.required", "must be true or false"),
    ("integer", "variables.v", "must be a mapping such as {type: string}"),
])  # fmt: skip
def test_a_bad_variable_declaration_is_reported_at_its_key(declaration, path, fragment):
    assert_error(errors_of(minimal(variables={"v": declaration})), path, fragment)


@pytest.mark.parametrize("name", ["Days", "1st", "my-var", "día"])
def test_a_variable_name_must_be_a_lowercase_identifier(name):
    errors = errors_of(minimal(variables={name: {"type": "string"}}))

    assert_error(errors, f"variables.{name}", "use lowercase letters, digits and underscores")


def test_a_variable_without_a_type_is_a_string():
    definition = load_definition(minimal(variables={"note": {"description": "free text"}}))

    assert definition["variables"]["note"]["type"] == "string"


def test_min_and_max_of_a_string_bound_its_length():
    definition = load_definition(
        minimal(variables={"code": {"type": "string", "min": 2, "max": 3, "default": "ab"}})
    )

    assert definition["variables"]["code"]["max"] == 3


def test_a_bad_step_param_declaration_is_reported_under_the_step():
    step = {"id": "a", "type": "noop", "params": {"n": {"type": "float"}}}

    assert_error(errors_of(minimal(steps=[step])), "steps.a.params.n.type", "unknown type 'float'")


# --- steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [None, []])
def test_a_template_needs_at_least_one_step(steps):
    definition = minimal()
    definition["steps"] = steps

    assert_error(errors_of(definition), "steps", "at least one step is required")


@pytest.mark.parametrize(("step", "path", "fragment"), [
    ({"type": "noop"}, "steps[0].id", "is required"),
    ({"id": "1st", "type": "noop"}, "steps[0].id", "invalid step id '1st'"),
    ({"id": "a.b", "type": "noop"}, "steps[0].id", "invalid step id"),
    ({"id": "a"}, "steps.a.type", "is required"),
    ({"id": "a", "type": "foo"}, "steps.a.type", "unknown step type 'foo'; known types: http, noop, python, report, shell, sleep"),
    ({"id": "a", "type": "noop", "wiht": {}}, "steps.a.wiht", "unknown key 'wiht'"),
    ({"id": "a", "type": "noop", "with": ["x"]}, "steps.a.with", "must be a mapping"),
    ({"id": "a", "type": "noop", "needs": [1]}, "steps.a.needs", "must be a list of step ids"),
    ({"id": "a", "type": "noop", "name": 5}, "steps.a.name", "must be a string"),
    ({"id": "a", "type": "noop", "timeout": "30"}, "steps.a.timeout", "must be a whole number of seconds greater than 0"),
    ({"id": "a", "type": "noop", "timeout": 0}, "steps.a.timeout", "greater than 0"),
    ({"id": "a", "type": "noop", "timeout": 1.5}, "steps.a.timeout", "whole number"),
    ({"id": "a", "type": "noop", "retries": -1}, "steps.a.retries", "must be a whole number of retries 0 or more"),
    ({"id": "a", "type": "noop", "retries": True}, "steps.a.retries", "whole number"),
    ({"id": "a", "type": "noop", "retry_backoff": -0.5}, "steps.a.retry_backoff", "must be a number of seconds 0 or more"),
    ({"id": "a", "type": "noop", "retry_backoff": "2s"}, "steps.a.retry_backoff", "must be a number"),
    ({"id": "a", "type": "noop", "idempotent": "yes"}, "steps.a.idempotent", "must be true or false"),
    ({"id": "a", "type": "noop", "continue_on_failure": 1}, "steps.a.continue_on_failure", "must be true or false"),
])  # fmt: skip
def test_a_bad_step_field_is_reported_at_its_key(step, path, fragment):
    assert_error(errors_of(minimal(steps=[step])), path, fragment)


def test_a_step_that_is_not_a_mapping_is_named_by_its_position():
    assert_error(errors_of(minimal(steps=["fetch"])), "steps[0]", "must be a mapping")


def test_a_duplicate_step_id_is_reported_at_the_second_step():
    steps = [{"id": "a", "type": "noop"}, {"id": "a", "type": "noop"}]

    assert_error(errors_of(minimal(steps=steps)), "steps[1].id", "duplicate step id 'a'")


def test_the_executors_own_problems_are_reported_under_with():
    steps = [
        {"id": "fetch", "type": "http", "with": {"method": "GET"}},
        {"id": "run", "type": "shell", "with": {}},
    ]

    errors = errors_of(minimal(steps=steps))

    assert_error(errors, "steps.fetch.with.url", "is required")
    assert_error(errors, "steps.run.with", "exactly one of 'command' or 'script'")


def test_needs_naming_an_unknown_step_is_reported():
    steps = [{"id": "a", "type": "noop", "needs": ["fetch"]}]

    assert_error(errors_of(minimal(steps=steps)), "steps.a.needs", "unknown step 'fetch'")


def test_a_cycle_in_needs_is_reported_with_the_path():
    steps = [
        {"id": "a", "type": "noop", "needs": ["b"]},
        {"id": "b", "type": "noop", "needs": ["a"]},
        {"id": "c", "type": "noop", "needs": ["a"]},
    ]

    errors = errors_of(minimal(steps=steps))

    assert errors == {"steps.a.needs": ["cycle in needs: a → b → a"]}


def test_a_longer_cycle_and_a_step_needing_itself_are_both_reported():
    steps = [
        {"id": "x", "type": "noop", "needs": ["x"]},
        {"id": "a", "type": "noop", "needs": ["c"]},
        {"id": "b", "type": "noop", "needs": ["a"]},
        {"id": "c", "type": "noop", "needs": ["b"]},
    ]

    errors = errors_of(minimal(steps=steps))

    assert errors["steps.x.needs"] == ["cycle in needs: x → x"]
    assert errors["steps.a.needs"] == ["cycle in needs: a → c → b → a"]


def test_the_longest_allowed_chain_of_needs_is_checked_without_recursion():
    steps = [
        {"id": f"s{i}", "type": "noop", "needs": [f"s{i - 1}"] if i else []} for i in range(500)
    ]
    steps[0]["needs"] = ["s499"]

    errors = errors_of(minimal(steps=steps))

    assert errors["steps.s0.needs"][0].startswith("cycle in needs: s0 → s499 → s498")


def test_a_template_has_at_most_500_steps():
    steps = [{"id": f"s{i}", "type": "noop"} for i in range(501)]

    assert_error(errors_of(minimal(steps=steps)), "steps", "at most 500 steps, this one has 501")


def test_a_step_type_that_is_not_a_string_is_reported_without_crashing():
    errors = errors_of(
        minimal(steps=[{"id": "a", "type": ["shell"], "with": {"x": "{{ vars.y }}"}}])
    )

    assert_error(errors, "steps.a.type", "unknown step type ['shell']")
    assert_error(errors, "steps.a.with.x", "no variable 'y'")


def test_a_step_timeout_may_not_exceed_the_configured_maximum(settings):
    settings.JOBSITE_MAX_STEP_TIMEOUT = 600
    too_long = minimal(steps=[{"id": "a", "type": "noop", "timeout": 601}])

    assert_error(errors_of(too_long), "steps.a.timeout", "must be at most 600 seconds")
    load_definition(minimal(steps=[{"id": "a", "type": "noop", "timeout": 600}]))


def test_the_default_maximum_step_timeout_is_six_hours():
    load_definition(minimal(steps=[{"id": "a", "type": "noop", "timeout": 21600}]))
    errors = errors_of(minimal(steps=[{"id": "a", "type": "noop", "timeout": 21601}]))

    assert_error(errors, "steps.a.timeout", "at most 21600 seconds")


def test_substitution_inside_a_shell_script_is_refused():
    definition = example()
    definition["steps"][1]["with"]["script"] = 'python3 transform.py --region "{{ vars.region }}"\n'

    errors = errors_of(definition)

    assert errors == {
        "steps.transform.with.script": [
            "{{ }} is not allowed in a shell script: pass values as environment variables ($VAR_NAME)"
        ]
    }


# --- references -----------------------------------------------------------------------------


def with_step(value, **step):
    """A template whose step `b` (after `a`) sends `value` as its noop outputs."""
    steps = [
        {"id": "a", "type": "noop"},
        {"id": "b", "type": "noop", "with": {"outputs": {"x": value}}, **step},
        {"id": "c", "type": "noop", "params": {"size": {"type": "integer"}}},
    ]
    return minimal(variables={"days": {"type": "integer"}}, steps=steps)


@pytest.mark.parametrize(("value", "fragment"), [
    ("{{ vars.weeks }}", "unknown reference 'vars.weeks': no variable 'weeks' is declared"),
    ("{{ params.size }}", "unknown reference 'params.size': step 'b' declares no parameter 'size'"),
    ("{{ steps.c.outputs.n }}", "unknown reference 'steps.c.outputs.n': step 'c' is not upstream of 'b' (add it to needs)"),
    ("{{ steps.b.outputs.x }}", "step 'b' is not upstream of 'b'"),
    ("{{ steps.z.outputs.n }}", "unknown reference 'steps.z.outputs.n': there is no step 'z'"),
    ("{{ steps.a.result }}", "unknown reference 'steps.a.result'"),
    ("{{ foo.bar }}", "unknown reference 'foo.bar'"),
    ("{{ job.status }}", "unknown reference 'job.status'"),
    ("{{ vars }}", "unknown reference 'vars'"),
    ("{{ __import__('os') }}", "only dotted names are allowed inside {{ }}"),
    ("{{ vars.days | upper }}", "only dotted names are allowed inside {{ }}"),
    ("{{ vars.days + 1 }}", "only dotted names are allowed inside {{ }}"),
    ("{{ }}", "only dotted names are allowed inside {{ }}"),
    ("{{ vars.days", "'{{' without a closing '}}'"),
    ("{{ {{ vars.days }}", "'{{' without a closing '}}'"),
])  # fmt: skip
def test_a_bad_reference_in_with_is_reported_where_it_is_written(value, fragment):
    assert_error(errors_of(with_step(value)), "steps.b.with.outputs.x", fragment)


def test_references_are_checked_inside_lists_and_nested_mappings():
    errors = errors_of(with_step({"deep": [1, {"k": "x {{ vars.nope }}"}]}))

    assert_error(errors, "steps.b.with.outputs.x.deep[1].k", "no variable 'nope'")


def test_good_references_in_with_are_accepted():
    value = (
        "{{ vars.days }} {{ steps.a.outputs.n }} {{ job.id }} {{ job.name }} {{ workspace.slug }}"
    )

    load_definition(with_step(value, needs=["a"]))


@pytest.mark.parametrize(("result", "fragment"), [
    ("{{ steps.z.outputs.n }}", "there is no step 'z'"),
    ("{{ params.size }}", "params are only available in a step's with"),
    ("{{ vars.x.y() }}", "only dotted names are allowed"),
])  # fmt: skip
def test_a_bad_reference_in_the_result_template_is_reported(result, fragment):
    assert_error(errors_of(minimal(result=result)), "result", fragment)


@pytest.mark.parametrize(("key", "fragment"), [
    ("{{ vars.zone }}", "no variable 'zone' is declared"),
    ("{{ steps.a.outputs.n }}", "step outputs are not available in settings.concurrency.key"),
])  # fmt: skip
def test_a_bad_reference_in_the_concurrency_key_is_reported(key, fragment):
    definition = minimal(settings={"concurrency": {"key": key}})

    assert_error(errors_of(definition), "settings.concurrency.key", fragment)


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings_", "path", "fragment"), [
    ("fast", "settings", "must be a mapping"),
    ({"timeuot": 5}, "settings.timeuot", "unknown key 'timeuot'"),
    ({"timeout": -5}, "settings.timeout", "greater than 0"),
    ({"log_limit_bytes": "10MB"}, "settings.log_limit_bytes", "whole number of bytes"),
    ({"trigger_url": True}, "settings.trigger_url", "must be a mapping such as {enabled: true}"),
    ({"trigger_url": {"enabled": "yes"}}, "settings.trigger_url", "must be a mapping such as"),
    ({"concurrency": 1}, "settings.concurrency", "must be a mapping such as {limit: 1"),
    ({"concurrency": {"limit": 0}}, "settings.concurrency.limit", "1 or more"),
    ({"concurrency": {"when_full": "drop"}}, "settings.concurrency.when_full", "must be one of: queue, reject, cancel_previous"),
    ({"concurrency": {"key": 5}}, "settings.concurrency.key", "must be a string"),
    ({"concurrency": {"size": 5}}, "settings.concurrency.size", "unknown key 'size'"),
])  # fmt: skip
def test_bad_settings_are_reported_at_their_key(settings_, path, fragment):
    assert_error(errors_of(minimal(settings=settings_)), path, fragment)


def test_concurrency_defaults_to_one_at_a_time_queued_under_one_key():
    definition = load_definition(minimal(settings={"concurrency": {}}))

    assert definition["settings"]["concurrency"] == {"limit": 1, "key": "", "when_full": "queue"}
