import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates_app.definition import (
    json_schema,
    load_definition,
    params_json_schema,
    secret_names,
    validate_step_params,
    validate_values,
)


def declare(**variables):
    """Normalized declarations, made the way a saved template makes them."""
    definition = {
        "slug": "t",
        "name": "T",
        "variables": variables,
        "steps": [{"id": "a", "type": "noop"}],
    }
    return load_definition(definition)["variables"]


def clean_value(declaration, value):
    clean, errors = validate_values(declare(v=declaration), {"v": value})
    assert errors == {}, errors
    return clean["v"]


def error_of(declaration, value):
    clean, errors = validate_values(declare(v=declaration), {"v": value})
    assert "v" not in clean
    return errors["v"][0]


CHOICES = {"choices": ["eu", "us", "apac"]}


# --- coercion: what forms and query strings send ------------------------------------------


@pytest.mark.parametrize(("declaration", "submitted", "expected"), [
    ({"type": "string"}, "hello", "hello"),
    ({"type": "text"}, "line 1\nline 2", "line 1\nline 2"),
    ({"type": "secret"}, "s3cret", "s3cret"),
    ({"type": "integer"}, 7, 7),
    ({"type": "integer"}, "7", 7),
    ({"type": "integer"}, " -3 ", -3),
    ({"type": "integer"}, 7.0, 7),
    ({"type": "integer"}, "7.0", 7),
    ({"type": "number"}, "1.5", 1.5),
    ({"type": "number"}, 2, 2),
    ({"type": "number"}, "2", 2),
    ({"type": "number"}, "1e3", 1000.0),
    ({"type": "boolean"}, True, True),
    ({"type": "boolean"}, False, False),
    ({"type": "boolean"}, "true", True),
    ({"type": "boolean"}, "False", False),
    ({"type": "boolean"}, "on", True),
    ({"type": "boolean"}, "off", False),
    ({"type": "boolean"}, "1", True),
    ({"type": "boolean"}, "0", False),
    ({"type": "boolean"}, "yes", True),
    ({"type": "boolean"}, "no", False),
    ({"type": "boolean"}, 1, True),
    ({"type": "choice", **CHOICES}, "us", "us"),
    ({"type": "choice", "choices": [1, 2, 3]}, "2", 2),
    ({"type": "multichoice", **CHOICES}, ["eu", "apac"], ["eu", "apac"]),
    ({"type": "multichoice", **CHOICES}, "eu, apac", ["eu", "apac"]),
    ({"type": "multichoice", **CHOICES}, "us", ["us"]),
    ({"type": "date"}, "2024-01-31", "2024-01-31"),
    ({"type": "date"}, datetime.date(2024, 1, 31), "2024-01-31"),
    ({"type": "datetime"}, "2024-01-31T09:30:00Z", "2024-01-31T09:30:00+00:00"),
    ({"type": "datetime"}, "2024-01-31 09:30", "2024-01-31T09:30:00"),
    ({"type": "datetime"}, datetime.datetime(2024, 1, 31, 9, 30), "2024-01-31T09:30:00"),
])  # fmt: skip
def test_values_are_coerced_to_their_declared_type(declaration, submitted, expected):
    value = clean_value(declaration, submitted)

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("declaration", "submitted", "message"), [
    ({"type": "string"}, 5, "expected a string, got 5"),
    ({"type": "integer"}, "abc", "expected an integer, got 'abc'"),
    ({"type": "integer"}, 7.5, "expected an integer, got 7.5"),
    ({"type": "integer"}, "7.5", "expected an integer, got '7.5'"),
    ({"type": "integer"}, True, "expected an integer, got True"),
    ({"type": "integer"}, [7], "expected an integer, got [7]"),
    ({"type": "number"}, "nan", "expected a number, got 'nan'"),
    ({"type": "number"}, False, "expected a number, got False"),
    ({"type": "boolean"}, "maybe", "expected true or false, got 'maybe'"),
    ({"type": "boolean"}, 2, "expected true or false, got 2"),
    ({"type": "choice", **CHOICES}, "mars", "must be one of: eu, us, apac"),
    ({"type": "multichoice", **CHOICES}, "eu,mars", "'mars' is not one of: eu, us, apac"),
    ({"type": "multichoice", **CHOICES}, ["eu", "eu"], "'eu' is chosen twice"),
    ({"type": "multichoice", **CHOICES}, {"eu": True}, "expected a list of choices, got {'eu': True}"),
    ({"type": "date"}, "31/01/2024", "expected a date (YYYY-MM-DD), got '31/01/2024'"),
    ({"type": "date"}, "2024-02-30", "expected a date (YYYY-MM-DD), got '2024-02-30'"),
    ({"type": "datetime"}, "yesterday", "expected a date and time (ISO 8601, e.g. 2024-01-31T09:30:00Z), got 'yesterday'"),
    ({"type": "integer", "min": 1, "max": 365}, "0", "must be at least 1"),
    ({"type": "integer", "min": 1, "max": 365}, 366, "must be at most 365"),
    ({"type": "number", "min": 0.5}, 0.25, "must be at least 0.5"),
    ({"type": "string", "min": 2}, "a", "must be at least 2 characters long"),
    ({"type": "text", "max": 3}, "abcd", "must be at most 3 characters long"),
    ({"type": "string", "pattern": "[a-z]+"}, "abc1", "must match the pattern [a-z]+"),
])  # fmt: skip
def test_a_bad_value_gets_a_message_that_says_why(declaration, submitted, message):
    assert error_of(declaration, submitted).startswith(message)


def test_a_pattern_must_match_the_whole_value_not_just_a_part():
    assert (
        error_of({"type": "string", "pattern": "[a-z]+"}, "ab cd")
        == "must match the pattern [a-z]+"
    )
    assert clean_value({"type": "string", "pattern": "[a-z]+"}, "abcd") == "abcd"


def test_a_secret_value_is_never_repeated_in_an_error():
    declaration = {"type": "secret", "min": 12, "pattern": "jsk_.*"}

    assert error_of({"type": "secret"}, 123456) == "expected a string"
    assert "hunter2" not in error_of(declaration, "hunter2")
    assert "hunter2" not in error_of({"type": "secret", "pattern": "jsk_.*"}, "hunter2")


def test_a_missing_required_variable_and_an_unknown_one_are_both_reported():
    declared = declare(region={"type": "choice", **CHOICES, "required": True})

    clean, errors = validate_values(declared, {"regoin": "eu"})

    assert errors == {"region": ["this variable is required"], "regoin": ["unknown variable"]}


@pytest.mark.parametrize("empty", [None, "", []])
def test_an_empty_value_means_not_given(empty):
    declared = declare(
        days={"type": "integer", "default": 7},
        note={"type": "string"},
        region={"type": "choice", **CHOICES, "required": True},
    )

    clean, errors = validate_values(declared, {"days": empty, "note": empty, "region": empty})

    assert clean == {"days": 7, "note": None}
    assert errors == {"region": ["this variable is required"]}


def test_defaults_apply_and_every_declared_variable_is_in_the_clean_values():
    declared = declare(
        days={"type": "integer", "default": 7},
        regions={"type": "multichoice", **CHOICES, "default": ["eu"]},
        verbose={"type": "boolean", "default": False},
        note={"type": "text"},
    )

    clean, errors = validate_values(declared, None)
    clean["regions"].append("us")

    assert errors == {}
    assert clean == {"days": 7, "regions": ["eu", "us"], "verbose": False, "note": None}
    assert declared["regions"]["default"] == ["eu"]  # the template's default is not shared


def test_a_required_variable_with_a_default_may_be_left_out():
    declared = declare(days={"type": "integer", "default": 7, "required": True})

    assert validate_values(declared, {}) == ({"days": 7}, {})


def test_a_submission_that_is_not_a_mapping_is_refused_as_a_whole():
    assert validate_values(declare(), ["days", 7]) == (
        {},
        {"__all__": ["must be a mapping of variable names to values"]},
    )


@given(st.integers(min_value=1, max_value=365))
def test_any_integer_in_range_survives_the_trip_through_a_form(days):
    declared = declare(days={"type": "integer", "min": 1, "max": 365})

    assert validate_values(declared, {"days": str(days)}) == ({"days": days}, {})


# --- per-step params ----------------------------------------------------------------------


STEPS = [
    {"id": "fetch", "type": "noop", "params": {}},
    {"id": "resize", "type": "noop", "params": declare(
        width={"type": "integer", "required": True, "min": 1},
        mode={"type": "choice", "choices": ["fit", "fill"], "default": "fit"},
    )},
]  # fmt: skip


def test_step_params_are_validated_per_step():
    clean, errors = validate_step_params(STEPS, {"resize": {"width": "640"}})

    assert errors == {}
    assert clean == {"resize": {"width": 640, "mode": "fit"}}


def test_a_step_that_declares_a_required_param_needs_it():
    clean, errors = validate_step_params(STEPS, {})

    assert errors == {"resize.width": ["this parameter is required"]}


def test_unknown_steps_and_unknown_params_are_reported():
    submitted = {"resize": {"width": 0, "height": 2}, "fetch": {"x": 1}, "upload": {"y": 1}}

    clean, errors = validate_step_params(STEPS, submitted)

    assert errors == {
        "resize.width": ["must be at least 1"],
        "resize.height": ["unknown parameter"],
        "fetch.x": ["unknown parameter"],
        "upload": ["unknown step 'upload'"],
    }


def test_params_of_a_step_that_are_not_a_mapping_are_reported_at_the_step():
    clean, errors = validate_step_params(STEPS, {"resize": 640})

    assert errors == {"resize": ["must be a mapping of parameter names to values"]}


# --- JSON Schema ------------------------------------------------------------------------------


def test_the_json_schema_describes_every_type():
    declared = declare(
        name={
            "type": "string",
            "min": 1,
            "max": 50,
            "pattern": "[a-z]+",
            "label": "Name",
            "description": "who",
        },
        body={"type": "text"},
        days={"type": "integer", "default": 7, "min": 1, "max": 365},
        ratio={"type": "number", "min": 0},
        dry_run={"type": "boolean", "default": True},
        region={"type": "choice", **CHOICES, "required": True},
        regions={"type": "multichoice", **CHOICES},
        since={"type": "date"},
        at={"type": "datetime"},
        api_token={"type": "secret", "required": True, "default": "do-not-show"},
    )

    schema = json_schema(declared)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["region"]
    assert schema["properties"] == {
        "name": {
            "type": "string", "minLength": 1, "maxLength": 50, "pattern": "^(?:[a-z]+)$",
            "title": "Name", "description": "who",
        },
        "body": {"type": "string", "x-widget": "textarea"},
        "days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 7},
        "ratio": {"type": "number", "minimum": 0},
        "dry_run": {"type": "boolean", "default": True},
        "region": {"enum": ["eu", "us", "apac"]},
        "regions": {"type": "array", "items": {"enum": ["eu", "us", "apac"]}, "uniqueItems": True},
        "since": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "api_token": {"type": "string", "format": "password", "writeOnly": True},
    }  # fmt: skip


def test_the_params_schema_is_keyed_by_the_steps_that_declare_params():
    schema = params_json_schema(STEPS)

    assert list(schema["properties"]) == ["resize"]
    assert schema["required"] == ["resize"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["resize"]["required"] == ["width"]
    assert schema["properties"]["resize"]["properties"]["mode"] == {
        "enum": ["fit", "fill"],
        "default": "fit",
    }


def test_secret_names_lists_only_secrets():
    declared = declare(
        api_token={"type": "secret"}, password={"type": "string"}, key={"type": "secret"}
    )

    assert secret_names(declared) == {"api_token", "key"}
