"""Typed variables (SPEC §2): their declarations, the values a job supplies, and the JSON
Schema both the start form and the API are described by.

Step `params` use the same declarations, so everything here serves both.

Decisions worth knowing:
- A missing value, None and "" all mean "not given": the default applies, else a
  required variable is an error, else the clean value is None. Every declared variable is
  therefore present in the clean values, so `{{ vars.x }}` of an optional variable renders
  as "" rather than failing the step.
- Values from HTML forms and query strings arrive as strings and are coerced ("7" → 7,
  "on" → True, "eu,us" → ["eu", "us"]); date and datetime values are stored as ISO strings.
- `min`/`max` bound the value of integer and number variables and the length of string,
  text and secret variables. `pattern` must match the whole value.
- Error messages never repeat a secret's value.
"""

import copy
import datetime
import math
import re

from .parse import add_error

TYPES = (
    "string", "text", "integer", "number", "boolean",
    "choice", "multichoice", "date", "datetime", "secret",
)  # fmt: skip
TEXT_TYPES = frozenset({"string", "text", "secret"})
NUMERIC_TYPES = frozenset({"integer", "number"})
CHOICE_TYPES = frozenset({"choice", "multichoice"})
DECLARATION_KEYS = (
    "type", "required", "default", "description", "label", "min", "max", "pattern", "choices",
)  # fmt: skip
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
TRUE_WORDS = frozenset({"true", "on", "1", "yes"})
FALSE_WORDS = frozenset({"false", "off", "0", "no"})
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


# --- declarations (template save time) --------------------------------------------------


def normalize_declarations(raw, path, errors):
    """Declarations as written → normalized declarations; problems go to `errors`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        add_error(errors, path, "must be a mapping of names to declarations")
        return {}
    declared = {}
    for name, declaration in raw.items():
        where = f"{path}.{name}"
        if not NAME_RE.match(name):
            add_error(
                errors, where,
                f"invalid name '{name}': use lowercase letters, digits and underscores, "
                "starting with a letter or underscore",
            )  # fmt: skip
            continue
        problems = {}
        normalized = _normalize_declaration(declaration, where, problems)
        for key, messages in problems.items():
            errors.setdefault(key, []).extend(messages)
        if normalized is not None and not problems:
            declared[name] = normalized
    return declared


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _normalize_declaration(declaration, where, errors):
    if not isinstance(declaration, dict):
        add_error(errors, where, "must be a mapping such as {type: string}")
        return None
    for key in declaration:
        if key not in DECLARATION_KEYS:
            add_error(errors, f"{where}.{key}", f"unknown key '{key}'; allowed: {', '.join(DECLARATION_KEYS)}")
    kind = declaration.get("type", "string")  # an undeclared type means a plain string
    if kind not in TYPES:
        add_error(errors, f"{where}.type", f"unknown type {kind!r}; use one of: {', '.join(TYPES)}")
        return None
    normalized = {"type": kind, "required": declaration.get("required", False)}
    if not isinstance(normalized["required"], bool):
        add_error(errors, f"{where}.required", "must be true or false")
    for key in ("description", "label"):
        normalized[key] = declaration.get(key) or ""
        if not isinstance(normalized[key], str):
            add_error(errors, f"{where}.{key}", "must be a string")

    for key in ("min", "max"):
        if key not in declaration:
            continue
        bound = declaration[key]
        if kind in NUMERIC_TYPES and not _is_number(bound):
            add_error(errors, f"{where}.{key}", "must be a number")
        elif kind in TEXT_TYPES and not (isinstance(bound, int) and not isinstance(bound, bool) and bound >= 0):
            add_error(errors, f"{where}.{key}", "must be a whole number of characters (0 or more)")
        elif kind not in NUMERIC_TYPES | TEXT_TYPES:
            add_error(errors, f"{where}.{key}", f"{key} is only allowed for integer, number, string, text and secret variables")
        normalized[key] = bound
    low, high = normalized.get("min"), normalized.get("max")
    if _is_number(low) and _is_number(high) and low > high:
        add_error(errors, f"{where}.min", f"min ({low}) is greater than max ({high})")

    if "pattern" in declaration:
        pattern = declaration["pattern"]
        if kind not in TEXT_TYPES:
            add_error(errors, f"{where}.pattern", "pattern is only allowed for string, text and secret variables")
        elif not isinstance(pattern, str):
            add_error(errors, f"{where}.pattern", "must be a string")
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                add_error(errors, f"{where}.pattern", f"invalid regular expression: {exc}")
        normalized["pattern"] = pattern

    choices = declaration.get("choices")
    if kind in CHOICE_TYPES:
        if not isinstance(choices, list) or not choices:
            add_error(errors, f"{where}.choices", f"a {kind} variable needs a non-empty list of choices")
        elif not all(isinstance(c, str) or _is_number(c) for c in choices):
            add_error(errors, f"{where}.choices", "choices must be strings or numbers")
        elif len({str(c) for c in choices}) != len(choices):
            add_error(errors, f"{where}.choices", "choices must not repeat")
        normalized["choices"] = choices
    elif "choices" in declaration:
        add_error(errors, f"{where}.choices", "choices are only allowed for choice and multichoice variables")

    # The default is checked by the very code that checks submitted values, and only once
    # the declaration itself is sound (a default cannot be judged against a broken pattern).
    if declaration.get("default") is not None and not errors:
        value, problem = check_value(normalized, declaration["default"])
        if problem:
            add_error(errors, f"{where}.default", f"invalid default: {problem}")
        else:
            normalized = {"type": kind, "required": normalized["required"], "default": value, **normalized}
    return normalized


# --- values (job creation time) ---------------------------------------------------------


def _got(declaration, value):
    if declaration["type"] == "secret":
        return ""
    shown = repr(value)
    return f", got {shown[:60]}…" if len(shown) > 60 else f", got {shown}"


def _match_choice(declaration, value):
    for choice in declaration["choices"]:
        # Form values are strings, so "3" selects the choice 3.
        if (choice == value and not isinstance(value, bool)) or (isinstance(value, str) and str(choice) == value.strip()):
            return choice
    return None


def _one_of(declaration):
    return "one of: " + ", ".join(str(c) for c in declaration["choices"])


def _coerce(declaration, value):
    """(clean value, None) or (None, problem) for the type alone, no constraints."""
    kind = declaration["type"]
    if kind in TEXT_TYPES:
        return (value, None) if isinstance(value, str) else (None, f"expected a string{_got(declaration, value)}")
    if kind in NUMERIC_TYPES:
        number = value
        if isinstance(value, str):
            text = value.strip()
            try:
                number = int(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    number = None
        if _is_number(number) and math.isfinite(number):
            if kind == "number":
                return number, None
            if isinstance(number, int) or number.is_integer():
                return int(number), None
        noun = "an integer" if kind == "integer" else "a number"
        return None, f"expected {noun}{_got(declaration, value)}"
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS, None
        return None, f"expected true or false{_got(declaration, value)}"
    if kind == "choice":
        choice = _match_choice(declaration, value)
        return (choice, None) if choice is not None else (None, f"must be {_one_of(declaration)}")
    if kind == "multichoice":
        items = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return None, f"expected a list of choices{_got(declaration, value)}"
        chosen = []
        for item in items:
            choice = _match_choice(declaration, item)
            if choice is None:
                return None, f"{item!r} is not {_one_of(declaration)}"
            if choice in chosen:
                return None, f"{choice!r} is chosen twice"
            chosen.append(choice)
        return chosen, None
    if kind == "date":
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value.isoformat(), None
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat(), None
        except (AttributeError, ValueError):
            return None, f"expected a date (YYYY-MM-DD){_got(declaration, value)}"
    # datetime
    if isinstance(value, datetime.datetime):
        return value.isoformat(), None
    try:
        return datetime.datetime.fromisoformat(value.strip()).isoformat(), None
    except (AttributeError, ValueError):
        return None, f"expected a date and time (ISO 8601, e.g. 2024-01-31T09:30:00Z){_got(declaration, value)}"


def check_value(declaration, value):
    """(clean value, None) when `value` satisfies the declaration, else (None, problem)."""
    clean, problem = _coerce(declaration, value)
    if problem:
        return None, problem
    low, high = declaration.get("min"), declaration.get("max")
    if declaration["type"] in NUMERIC_TYPES:
        if low is not None and clean < low:
            return None, f"must be at least {low}"
        if high is not None and clean > high:
            return None, f"must be at most {high}"
    if declaration["type"] in TEXT_TYPES:
        if low is not None and len(clean) < low:
            return None, f"must be at least {low} characters long"
        if high is not None and len(clean) > high:
            return None, f"must be at most {high} characters long"
        pattern = declaration.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, clean):
            return None, f"must match the pattern {pattern}"
    return clean, None


def _is_empty(value):
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
        if _is_empty(value):
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
        schema = {"type": "array", "items": {"enum": list(declaration["choices"])}, "uniqueItems": True}
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
