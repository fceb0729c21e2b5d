"""Typed variables (SPEC §2): the values a job supplies, and the JSON Schema that both
the start form and the API are described by. (Declarations are read in parse.py.)

Step `params` use the same declarations, so everything here serves both.

Decisions worth knowing:
- A missing value, None and "" all mean "not given": the default applies, else a
  required variable is an error, else the clean value is None. Every declared variable is
  therefore present in the clean values, so `{{ vars.x }}` of an optional variable renders
  as "" rather than failing the step.
- Values from HTML forms and query strings arrive as strings and are coerced ("7" → 7,
  "on" → True, "eu,us" → ["eu", "us"]); date and datetime values are stored as ISO strings.
- A variable declared without a type is a string. `min`/`max` bound the value of integer
  and number variables and the length of string, text and secret variables. `pattern`
  must match the whole value (the JSON Schema gets it anchored).
- Error messages never repeat a secret's value.
- A `file` variable's value is an upload id (POST uploads/ first). This package only
  checks that it is one line of text: finding the upload in the job's workspace, its
  `accept` list of media types and the file becoming an input of the job are the jobs
  app's (jobs/uploads.py), which stores the input's file name as the value.
"""

import copy
import datetime
import math
import re

TYPES = (
    "string", "text", "integer", "number", "boolean",
    "choice", "multichoice", "date", "datetime", "secret", "file",
)  # fmt: skip
TEXT_TYPES = frozenset({"string", "text", "secret"})
NUMERIC_TYPES = frozenset({"integer", "number"})
CHOICE_TYPES = frozenset({"choice", "multichoice"})
DECLARATION_KEYS = (
    "type", "required", "default", "description", "label", "min", "max", "pattern", "choices", "accept",
    "allow_leading_dash",
)  # fmt: skip
NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
TRUE_WORDS = frozenset({"true", "on", "1", "yes"})
FALSE_WORDS = frozenset({"false", "off", "0", "no"})
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- values (job creation time) ---------------------------------------------------------


class _Invalid(ValueError):
    """A value that does not fit its declaration; the message is shown to the user."""


def _expected(declaration, what, value):
    # A secret's value is never echoed back: error messages end up in logs and pages.
    if declaration["type"] == "secret":
        return _Invalid(f"expected {what}")
    shown = repr(value)
    return _Invalid(f"expected {what}, got {shown[:60] + '…' if len(shown) > 60 else shown}")


def _as_number(declaration, value):
    number = value
    if isinstance(value, str):  # from a form or a query string
        for parse in (int, float):
            try:
                number = parse(value.strip())
                break
            except ValueError:
                number = None
    if is_number(number) and math.isfinite(number):
        if declaration["type"] == "number":
            return number
        if isinstance(number, int) or number.is_integer():  # 7.0 is 7, 7.5 is not
            return int(number)
    noun = "an integer" if declaration["type"] == "integer" else "a number"
    raise _expected(declaration, noun, value)


def _as_boolean(declaration, value):
    word = value.strip().lower() if isinstance(value, str) else None
    if isinstance(value, bool) or word in TRUE_WORDS | FALSE_WORDS:
        return value if isinstance(value, bool) else word in TRUE_WORDS
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _expected(declaration, "true or false", value)


def _as_choice(declaration, value):
    for choice in declaration["choices"]:
        # Form values are strings, so "3" selects the choice 3.
        if (choice == value and not isinstance(value, bool)) or (
            isinstance(value, str) and str(choice) == value.strip()
        ):
            return choice
    one_of = ", ".join(str(choice) for choice in declaration["choices"])
    if declaration["type"] == "choice":
        raise _Invalid(f"must be one of: {one_of}")
    raise _Invalid(f"{value!r} is not one of: {one_of}")


def _as_choices(declaration, value):
    if isinstance(value, str):  # "eu, us" from a query string
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise _expected(declaration, "a list of choices", value)
    chosen = []
    for item in value:
        choice = _as_choice(declaration, item)
        if choice in chosen:
            raise _Invalid(f"{choice!r} is chosen twice")
        chosen.append(choice)
    return chosen


def _as_date(declaration, value):
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    try:
        return datetime.date.fromisoformat(value.strip()).isoformat()
    except (AttributeError, ValueError):
        raise _expected(declaration, "a date (YYYY-MM-DD)", value) from None


def _as_datetime(declaration, value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    try:
        return datetime.datetime.fromisoformat(value.strip()).isoformat()
    except (AttributeError, ValueError):
        what = "a date and time (ISO 8601, e.g. 2024-01-31T09:30:00Z)"
        raise _expected(declaration, what, value) from None


def _as_text(declaration, value):
    if not isinstance(value, str):
        raise _expected(declaration, "a string", value)
    if declaration["type"] != "text" and ("\n" in value or "\r" in value):
        # One line, so `echo "x=$VAR_X" >> "$JOBSITE_OUTPUT"` can never add an output key
        # (SPEC §3); `text` is the multi-line type.
        raise _Invalid("must be one line (use a text variable for several lines)")
    low, high, pattern = declaration.get("min"), declaration.get("max"), declaration.get("pattern")
    if low is not None and len(value) < low:
        raise _Invalid(f"must be at least {low} characters long")
    if high is not None and len(value) > high:
        raise _Invalid(f"must be at most {high} characters long")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise _Invalid(f"must match the pattern {pattern}")
    return value


def _as_bounded_number(declaration, value):
    number = _as_number(declaration, value)
    if declaration.get("min") is not None and number < declaration["min"]:
        raise _Invalid(f"must be at least {declaration['min']}")
    if declaration.get("max") is not None and number > declaration["max"]:
        raise _Invalid(f"must be at most {declaration['max']}")
    return number


def _as_file(declaration, value):
    if not isinstance(value, str) or not value.strip() or "\n" in value or len(value) > 200:
        raise _Invalid("expected an upload id (POST the file to /api/v1/uploads/ first)")
    return value.strip()


COERCE = {
    "string": _as_text, "text": _as_text, "secret": _as_text,
    "integer": _as_bounded_number, "number": _as_bounded_number,
    "boolean": _as_boolean, "choice": _as_choice, "multichoice": _as_choices,
    "date": _as_date, "datetime": _as_datetime, "file": _as_file,
}  # fmt: skip


def check_value(declaration, value):
    """(clean value, None) when `value` satisfies the declaration, else (None, problem)."""
    try:
        return COERCE[declaration["type"]](declaration, value), None
    except _Invalid as exc:
        return None, str(exc)


def is_empty(value: object) -> bool:
    """Whether a submitted value counts as left out (the default then applies)."""
    return value is None or value == "" or value == []


def _validate(declared, submitted, noun):
    if submitted is None:
        submitted = {}
    if not isinstance(submitted, dict):
        return {}, {"__all__": [f"must be a mapping of {noun} names to values"]}
    clean, errors = {}, {}
    for name in submitted:
        if name not in declared:
            errors[name] = [f"unknown {noun}"]
    for name, declaration in declared.items():
        value = submitted.get(name)
        if is_empty(value):
            if "default" in declaration:
                clean[name] = copy.deepcopy(declaration["default"])
            elif declaration["required"]:
                errors[name] = [f"this {noun} is required"]
            else:
                clean[name] = None
            continue
        value, problem = check_value(declaration, value)
        if problem:
            errors[name] = [problem]
        else:
            clean[name] = value
    return clean, errors


def validate_values(declared, submitted):
    """Submitted variables → (clean values, errors keyed by variable name).

    A submission that is not a mapping at all is reported under "__all__".
    """
    return _validate(declared, submitted, "variable")


def validate_step_params(steps, submitted):
    """Submitted per-step params ({step_id: {name: value}}) → (clean, errors).

    Clean values exist for every step that declares params; errors are keyed
    "<step_id>.<name>", or "<step_id>" for a step that does not exist.
    """
    if submitted is None:
        submitted = {}
    if not isinstance(submitted, dict):
        return {}, {"__all__": ["must be a mapping of step ids to parameters"]}
    declared_by_step = {step["id"]: step.get("params") or {} for step in steps}
    clean, errors = {}, {}
    for step_id in submitted:
        if step_id not in declared_by_step:
            errors[step_id] = [f"unknown step '{step_id}'"]
    for step_id, declared in declared_by_step.items():
        values, problems = _validate(declared, submitted.get(step_id), "parameter")
        if "__all__" in problems:
            errors[step_id] = problems["__all__"]
            continue
        errors.update({f"{step_id}.{name}": messages for name, messages in problems.items()})
        if declared:
            clean[step_id] = values
    return clean, errors


def check_job_input(
    definition: dict, variables: dict | None, params: dict | None
) -> tuple[dict, dict, dict]:
    """A job's variables and per-step params checked and coerced against its definition,
    as creating a job and the templates' dry run both do. Returns (variables, params,
    errors), errors keyed `variables.<name>` and `params.<step>.<name>`."""
    clean_vars, var_errors = validate_values(definition.get("variables", {}), variables)
    clean_params, param_errors = validate_step_params(definition.get("steps", []), params)
    errors = {f"variables.{key}": messages for key, messages in var_errors.items()}
    errors.update({f"params.{key}": messages for key, messages in param_errors.items()})
    if not errors:
        # SPEC §3's leading-dash rule needs the clean values (argv.py).
        from .argv import job_value_problems

        errors = job_value_problems(definition, clean_vars, clean_params)
    return clean_vars, clean_params, errors


def secret_names(variables):
    return {name for name, declaration in variables.items() if declaration["type"] == "secret"}


# --- JSON Schema ------------------------------------------------------------------------


def _property_schema(declaration):
    kind = declaration["type"]
    low, high = declaration.get("min"), declaration.get("max")
    if kind in TEXT_TYPES:
        schema = {"type": "string"}
        if low is not None:
            schema["minLength"] = low
        if high is not None:
            schema["maxLength"] = high
        if declaration.get("pattern") is not None:
            # Anchored so the schema means what check_value does (a whole-value match).
            schema["pattern"] = f"^(?:{declaration['pattern']})$"
        if kind == "text":
            schema["x-widget"] = "textarea"
        if kind == "secret":
            schema.update({"format": "password", "writeOnly": True})
    elif kind in NUMERIC_TYPES:
        schema = {"type": kind}
        if low is not None:
            schema["minimum"] = low
        if high is not None:
            schema["maximum"] = high
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "choice":
        schema = {"enum": list(declaration["choices"])}
    elif kind == "multichoice":
        schema = {
            "type": "array",
            "items": {"enum": list(declaration["choices"])},
            "uniqueItems": True,
        }
    elif kind == "file":
        schema = {
            "type": "string",
            "format": "uuid",
            "x-widget": "file",
            "description": "An upload id (uploads/).",
        }
        if declaration.get("accept"):
            schema["contentMediaType"] = ", ".join(declaration["accept"])
    else:
        schema = {"type": "string", "format": "date" if kind == "date" else "date-time"}
    if declaration.get("label"):
        schema["title"] = declaration["label"]
    if declaration.get("description"):
        schema["description"] = declaration["description"]
    # A secret's default stays on the server: the schema is readable by every viewer.
    if "default" in declaration and kind != "secret":
        schema["default"] = copy.deepcopy(declaration["default"])
    return schema


def _object_schema(declared):
    return {
        "type": "object",
        "properties": {name: _property_schema(d) for name, d in declared.items()},
        # A required variable with a default can always be left out: its default applies.
        "required": [name for name, d in declared.items() if d["required"] and "default" not in d],
        "additionalProperties": False,
    }


def json_schema(variables):
    """JSON Schema (draft 2020-12) of the values a job may supply for `variables`."""
    return {"$schema": SCHEMA_DIALECT, **_object_schema(variables)}


def params_json_schema(steps):
    """JSON Schema of a job's `params`: an object keyed by the id of each step that
    declares params, each the schema of that step's params."""
    with_params = [step for step in steps if step.get("params")]
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "properties": {step["id"]: _object_schema(step["params"]) for step in with_params},
        "required": [
            step["id"] for step in with_params if _object_schema(step["params"])["required"]
        ],
        "additionalProperties": False,
    }
