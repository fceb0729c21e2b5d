"""Reading a template definition: its source text, its header fields, and variable
declarations (the same format serves step `params`).

Everything here is about the shape of single fields; how steps fit together and what
`{{ }}` may refer to is checked in validate.py.
"""

import datetime
import json
import math
import re

import yaml

from .source_guard import EXPLOSIVE, explosive_yaml_problem
from .variables import (
    CHOICE_TYPES,
    DECLARATION_KEYS,
    NAME_RE,
    NUMERIC_TYPES,
    TEXT_TYPES,
    TYPES,
    check_value,
    is_number,
)

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


class DefinitionError(Exception):
    """Every problem found in a definition, keyed by where it is ("steps.fetch.with.url")."""

    def __init__(self, errors):
        self.errors = {path: list(messages) for path, messages in errors.items()}
        super().__init__(str(self))

    def __str__(self):
        return "\n".join(
            f"{path}: {message}" for path, messages in self.errors.items() for message in messages
        )


def add_error(errors, path, message):
    errors.setdefault(path, []).append(message)


def reject_unknown_keys(mapping, allowed, where, errors):
    """A misspelt key ("timout") is an error, never silently ignored."""
    for key in mapping:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            add_error(errors, path, f"unknown key '{key}'; allowed: {', '.join(allowed)}")


# --- the source -----------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping.

    PyYAML keeps the last value silently, so a second `steps:` further down a long
    template would quietly replace the first.
    """

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key '{key}'",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_text(text):
    """(document, None) or (None, problem)."""
    # JSON is tried first for text that looks like JSON, so a JSON author gets a JSON
    # error message; a YAML flow mapping ("{a: 1}") still falls through to YAML.
    json_problem = None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text), None
        except RecursionError:
            return None, EXPLOSIVE
        except json.JSONDecodeError as exc:
            json_problem = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    explosive = explosive_yaml_problem(text)
    if explosive:
        return None, explosive
    try:
        return yaml.load(text, Loader=_StrictLoader), None  # noqa: S506 - a SafeLoader
    except RecursionError:
        return None, EXPLOSIVE
    except yaml.YAMLError as exc:
        mark, problem = (
            getattr(exc, "problem_mark", None),
            getattr(exc, "problem", None) or str(exc),
        )
        if json_problem:
            return None, json_problem
        if mark is None:
            return None, f"invalid YAML: {problem}"
        return None, f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def to_json_data(value, path, errors):
    """A copy of `value` that json.dumps accepts; what cannot be converted is an error.

    YAML turns unquoted dates into date objects; they become ISO strings here so that a
    `default: 2024-01-31` works. Anything else that is not JSON (binary, sets, NaN,
    non-string keys) is refused rather than silently changed.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            add_error(errors, path, "must be a finite number")
        return value if math.isfinite(value) else None
    if isinstance(value, datetime.date):  # datetime.datetime is a subclass
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json_data(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            if isinstance(key, str):
                copy[key] = to_json_data(item, f"{path}.{key}" if path else key, errors)
            else:
                add_error(errors, path or "source", f"keys must be strings, got {key!r}")
        return copy
    add_error(errors, path or "source", f"is not JSON data ({type(value).__name__})")
    return None


def read_source(source, errors):
    """The source as a dict of plain JSON data, or None with problems added to `errors`."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            add_error(errors, "source", "is not UTF-8 text")
            return None
    if isinstance(source, str):
        document, problem = _parse_text(source)
        if problem:
            add_error(errors, "source", problem)
            return None
    elif isinstance(source, dict):
        document = source
    else:
        add_error(errors, "source", "must be YAML or JSON text, or a mapping")
        return None
    if document is None:
        add_error(errors, "source", "the definition is empty")
        return None
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else f"a {type(document).__name__}"
        add_error(
            errors, "source", f"the definition must be a mapping of keys to values, got {kind}"
        )
        return None
    try:
        return to_json_data(document, "", errors)
    except RecursionError:
        add_error(errors, "source", "the definition nests too deeply")
        return None


# --- the header -------------------------------------------------------------------------------


def normalize_slug(document, recipe, errors):
    slug = document.get("slug")
    if slug is None and recipe:
        return "recipe"
    if slug is None:
        add_error(errors, "slug", "is required")
    elif not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        add_error(
            errors, "slug",
            "must be 1 to 100 lowercase letters, digits and hyphens, starting with a letter or digit",
        )  # fmt: skip
    return slug


def normalize_text(document, key, errors, *, default, limit=None):
    """A string field; `default=None` makes it required and not blank."""
    value = document.get(key)
    if value is None:
        if default is None:
            add_error(errors, key, "is required")
        return default
    if not isinstance(value, str):
        add_error(errors, key, "must be a string")
    elif default is None and not value.strip():
        add_error(errors, key, "must not be blank")
    elif limit and len(value) > limit:
        add_error(errors, key, f"must be at most {limit} characters long")
    return value


# --- variable declarations (also used for step params) ----------------------------------


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
        if not NAME_RE.fullmatch(name):
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


def _normalize_declaration(declaration, where, errors):
    if not isinstance(declaration, dict):
        add_error(errors, where, "must be a mapping such as {type: string}")
        return None
    reject_unknown_keys(declaration, DECLARATION_KEYS, where, errors)
    kind = declaration.get("type", "string")  # an undeclared type means a plain string
    if kind not in TYPES:
        add_error(errors, f"{where}.type", f"unknown type {kind!r}; use one of: {', '.join(TYPES)}")
        return None
    normalized = {"type": kind, "required": declaration.get("required", False)}
    if not isinstance(normalized["required"], bool):
        add_error(errors, f"{where}.required", "must be true or false")
    if "allow_leading_dash" in declaration:
        normalized["allow_leading_dash"] = declaration["allow_leading_dash"]
        if not isinstance(normalized["allow_leading_dash"], bool):
            add_error(errors, f"{where}.allow_leading_dash", "must be true or false")
    for key in ("description", "label"):
        text = declaration.get(key)
        normalized[key] = "" if text is None else text
        if not isinstance(normalized[key], str):
            add_error(errors, f"{where}.{key}", "must be a string")

    for key in ("min", "max"):
        if key not in declaration:
            continue
        bound = declaration[key]
        if kind in NUMERIC_TYPES and not is_number(bound):
            add_error(errors, f"{where}.{key}", "must be a number")
        elif kind in TEXT_TYPES and not (
            is_number(bound) and isinstance(bound, int) and bound >= 0
        ):
            add_error(errors, f"{where}.{key}", "must be a whole number of characters (0 or more)")
        elif kind not in NUMERIC_TYPES | TEXT_TYPES:
            add_error(
                errors, f"{where}.{key}",
                f"{key} is only allowed for integer, number, string, text and secret variables",
            )  # fmt: skip
        normalized[key] = bound
    low, high = normalized.get("min"), normalized.get("max")
    if is_number(low) and is_number(high) and low > high:
        add_error(errors, f"{where}.min", f"min ({low}) is greater than max ({high})")

    if "pattern" in declaration:
        pattern = declaration["pattern"]
        if kind not in TEXT_TYPES:
            message = "pattern is only allowed for string, text and secret variables"
            add_error(errors, f"{where}.pattern", message)
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
            message = f"a {kind} variable needs a non-empty list of choices"
            add_error(errors, f"{where}.choices", message)
        elif not all(isinstance(c, str) or is_number(c) for c in choices):
            add_error(errors, f"{where}.choices", "choices must be strings or numbers")
        elif len({str(c) for c in choices}) != len(choices):
            add_error(errors, f"{where}.choices", "choices must not repeat")
        normalized["choices"] = choices
    elif "choices" in declaration:
        message = "choices are only allowed for choice and multichoice variables"
        add_error(errors, f"{where}.choices", message)

    if "accept" in declaration:
        accept = declaration["accept"]
        if kind != "file":
            add_error(errors, f"{where}.accept", "accept is only allowed for file variables")
        elif not (
            isinstance(accept, list) and accept
            and all(isinstance(item, str) and re.fullmatch(r"[a-z0-9.+*-]+/[a-z0-9.+*-]+", item.lower()) for item in accept)
        ):  # fmt: skip
            add_error(
                errors,
                f"{where}.accept",
                "must be a list of media types such as text/csv or image/*",
            )
        else:
            normalized["accept"] = [item.lower() for item in accept]
    if kind == "file" and declaration.get("default") is not None:
        add_error(
            errors,
            f"{where}.default",
            "a file variable has no default (uploads expire); leave it out",
        )

    # The default is checked by the very code that checks submitted values, and only once
    # the declaration itself is sound (a default cannot be judged against a broken pattern).
    if declaration.get("default") is not None and not errors:
        value, problem = check_value(normalized, declaration["default"])
        if problem:
            add_error(errors, f"{where}.default", f"invalid default: {problem}")
        else:
            # Keep the normalized key order: type, required, default, then the rest.
            normalized = {
                "type": kind,
                "required": normalized["required"],
                "default": value,
                **normalized,
            }
    return normalized
