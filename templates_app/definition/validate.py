"""A template definition, checked and normalized (SPEC §3).

load_definition collects every problem before it raises, so whoever saves a template
sees all of them at once, each keyed by where it is: "slug", "variables.days.min",
"steps.fetch.with.url", "steps[2].id" (a step without a usable id is named by position).
"""

import re
from typing import NamedTuple

from django.conf import settings

from jobs.executors.registry import executor_names, get_executor

from .parse import DefinitionError, add_error, read_source
from .steps import normalize_steps, upstream_of
from .substitute import (
    ONLY_DOTTED_NAMES,
    has_unclosed_placeholder,
    is_dotted_path,
    iter_strings,
    placeholders,
)
from .variables import normalize_declarations

TOP_LEVEL_KEYS = ("slug", "name", "type", "description", "variables", "steps", "result", "settings")
SETTINGS_KEYS = ("timeout", "concurrency", "trigger_url", "log_limit_bytes")
CONCURRENCY_KEYS = ("limit", "key", "when_full")
WHEN_FULL = ("queue", "reject", "cancel_previous")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
JOB_REFERENCES = frozenset({"job.id", "job.name", "workspace.slug"})
DEFAULT_LOG_LIMIT_BYTES = 10 * 1024 * 1024


def load_definition(source, *, recipe=False):
    """YAML text, JSON text or a mapping → the normalized definition (plain JSON data).

    With `recipe=True` (an inline recipe submitted with a job) `slug` and `name` may be
    left out. Raises DefinitionError listing every problem found.
    """
    errors = {}
    document = read_source(source, errors)
    if document is None:
        raise DefinitionError(errors)
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            add_error(errors, key, f"unknown key '{key}'; allowed: {', '.join(TOP_LEVEL_KEYS)}")

    definition = {
        "slug": _slug(document, recipe, errors),
        "name": _text(document, "name", errors, default="Inline recipe" if recipe else None, limit=200),
        "type": _text(document, "type", errors, default="", limit=100),
        "description": _text(document, "description", errors, default=""),
        "variables": normalize_declarations(document.get("variables"), "variables", errors),
        "steps": normalize_steps(document.get("steps"), errors),
        "result": _result(document, errors),
        "settings": _settings(document.get("settings"), errors),
    }
    _check_references(definition, errors)
    if errors:
        raise DefinitionError(errors)
    return definition


# --- references ---------------------------------------------------------------------------


class ReferenceScope(NamedTuple):
    """What a `{{ }}` may refer to where it is written."""

    where: str  # the error path of the value being checked
    variables: frozenset
    steps: frozenset  # every step of the template
    step_id: str | None = None  # the step whose `with` this is
    params: frozenset | None = None  # None: no params here (result, concurrency key)
    visible_steps: frozenset | None = None  # whose outputs are readable; None: all


def _check_references(definition, errors):
    variables = frozenset(definition["variables"])
    steps = frozenset(step["id"] for step in definition["steps"])
    upstream = upstream_of(definition["steps"])
    for step in definition["steps"]:
        executor = get_executor(step["type"])
        raw_keys = executor.raw_keys if executor else frozenset()
        for key, value in step["with"].items():
            where = f"steps.{step['id']}.with.{key}"
            if key in raw_keys:
                if any("{{" in text for _, text in iter_strings(value)):
                    add_error(
                        errors, where,
                        f"{{{{ }}}} is not allowed in a {step['type']} {key}: "
                        "pass values as environment variables ($VAR_NAME)",
                    )  # fmt: skip
                continue
            scope = ReferenceScope(
                where, variables, steps, step["id"], frozenset(step["params"]), upstream[step["id"]]
            )
            _check_value_references(value, scope, errors)
    if isinstance(definition["result"], str):
        _check_value_references(definition["result"], ReferenceScope("result", variables, steps), errors)
    concurrency = definition["settings"]["concurrency"]
    if concurrency and isinstance(concurrency["key"], str):
        scope = ReferenceScope("settings.concurrency.key", variables, steps, visible_steps=frozenset())
        _check_value_references(concurrency["key"], scope, errors)


def _check_value_references(value, scope, errors):
    for subpath, text in iter_strings(value):
        if not subpath:
            where = scope.where
        else:
            where = f"{scope.where}{subpath}" if subpath.startswith("[") else f"{scope.where}.{subpath}"
        for content in placeholders(text):
            if not is_dotted_path(content):
                add_error(errors, where, f"{{{{ {content} }}}}: {ONLY_DOTTED_NAMES}")
                continue
            problem = _reference_problem(content, scope)
            if problem:
                add_error(errors, where, problem)
        if has_unclosed_placeholder(text):
            add_error(errors, where, "'{{' without a closing '}}'")


def _reference_problem(path, scope):
    parts = path.split(".")
    unknown = f"unknown reference '{path}'"
    if parts[0] == "vars" and len(parts) >= 2:
        return None if parts[1] in scope.variables else f"{unknown}: no variable '{parts[1]}' is declared"
    if parts[0] == "params" and len(parts) >= 2:
        if scope.params is None:
            return f"{unknown}: params are only available in a step's with"
        if parts[1] not in scope.params:
            return f"{unknown}: step '{scope.step_id}' declares no parameter '{parts[1]}'"
        return None
    if parts[0] == "steps" and len(parts) >= 3 and parts[2] == "outputs":
        step = parts[1]
        if step not in scope.steps:
            return f"{unknown}: there is no step '{step}'"
        if scope.visible_steps is None or step in scope.visible_steps:
            return None
        if scope.step_id is None:
            return f"{unknown}: step outputs are not available in {scope.where}"
        return f"{unknown}: step '{step}' is not upstream of '{scope.step_id}' (add it to needs)"
    if path in JOB_REFERENCES:
        return None
    return unknown

