"""A template definition, checked and normalized (SPEC §3).

load_definition collects every problem before it raises, so whoever saves a template
sees all of them at once, each keyed by where it is: "slug", "variables.days.min",
"steps.fetch.with.url", "steps[2].id" (a step without a usable id is named by position).
Here: the top level, the steps, their needs graph and references; the `settings` block is
template_settings.py's, the declared `outputs` outputs.py's.
"""

import re

from django.conf import settings

from jobs.executors.registry import executor_names, get_executor

from .argv import interpreter_problems
from .limits import DefinitionRules, forbidden_type_message
from .outputs import check_outputs, normalize_outputs
from .parse import (
    DefinitionError,
    add_error,
    normalize_declarations,
    normalize_slug,
    normalize_text,
    read_source,
    reject_unknown_keys,
)
from .substitute import definition_reference_problems
from .template_settings import normalize_settings, pool_name

TOP_LEVEL_KEYS = (
    "slug",
    "name",
    "type",
    "description",
    "variables",
    "steps",
    "result",
    "outputs",
    "settings",
)
STEP_KEYS = (
    "id", "type", "name", "with", "needs", "params", "timeout", "retries", "retry_backoff",
    "idempotent", "continue_on_failure", "runs_on",
)  # fmt: skip
STEP_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")
# Far more than a hand-written template needs; it bounds the work (and memory) an inline
# recipe submitted through the API can cost the needs and reference checks.
MAX_STEPS = 500
# Running these twice does no harm, so a step lost with its worker is simply run again.
# shell, http and python steps may have side effects: they are retried after a lost
# worker only when the template says `idempotent: true`. An executor may say otherwise
# with an `idempotent_by_default` attribute.
IDEMPOTENT_BY_DEFAULT = frozenset({"noop", "sleep", "report"})


def load_definition(source, *, recipe=False, rules=None):
    """YAML text, JSON text or a mapping → the normalized definition (plain JSON data).

    With `recipe=True` (an inline recipe submitted with a job) `slug` and `name` may be
    left out. `rules` (a DefinitionRules: templates_app.policy.definition_rules of the
    workspace) forbid step types and cap `settings.limits`; without them only the shape
    is checked. Raises DefinitionError listing every problem found.
    """
    rules = rules or DefinitionRules()
    errors = {}
    document = read_source(source, errors)
    if document is None:
        raise DefinitionError(errors)
    reject_unknown_keys(document, TOP_LEVEL_KEYS, "", errors)
    definition = {
        "slug": normalize_slug(document, recipe, errors),
        "name": normalize_text(
            document, "name", errors, default="Inline recipe" if recipe else None, limit=200
        ),
        "type": normalize_text(document, "type", errors, default="", limit=100),
        "description": normalize_text(document, "description", errors, default=""),
        "variables": normalize_declarations(document.get("variables"), "variables", errors),
        "steps": _normalize_steps(document.get("steps"), errors, rules),
        "result": _result(document.get("result"), errors),
        "settings": normalize_settings(document.get("settings"), errors, rules),
    }
    if "outputs" in document:
        # Only when declared: the definitions of templates saved before outputs existed
        # stay as they were.
        definition["outputs"] = normalize_outputs(document["outputs"], errors)
    _check_needs(definition["steps"], errors)
    _check_references(definition, errors)
    check_outputs(definition, errors)
    if errors:
        raise DefinitionError(errors)
    return definition


# --- result ------------------------------------------------------------------------------


def _result(result, errors):
    if result is not None and not isinstance(result, str):
        add_error(errors, "result", "must be markdown text")
    return result


# --- steps --------------------------------------------------------------------------------


def _normalize_steps(raw, errors, rules):
    """The steps that have a usable, unique id; the others only add errors."""
    if raw is None or raw == []:
        add_error(errors, "steps", "at least one step is required")
        return []
    if not isinstance(raw, list):
        add_error(errors, "steps", "must be a list of steps")
        return []
    if len(raw) > MAX_STEPS:
        add_error(
            errors, "steps", f"a template has at most {MAX_STEPS} steps, this one has {len(raw)}"
        )
        return []
    steps, seen = [], set()
    for index, item in enumerate(raw):
        step = _normalize_step(item, f"steps[{index}]", seen, errors, rules)
        if step is not None:
            seen.add(step["id"])
            steps.append(step)
    return steps


def _step_id(raw, where, seen, errors):
    step_id = raw.get("id")
    if step_id is None:
        add_error(errors, f"{where}.id", "is required")
    elif not isinstance(step_id, str) or not STEP_ID_RE.fullmatch(step_id):
        add_error(
            errors, f"{where}.id",
            f"invalid step id {step_id!r}: use up to 100 letters, digits, '_' and '-', "
            "starting with a letter or '_'",
        )  # fmt: skip
    elif step_id in seen:
        add_error(errors, f"{where}.id", f"duplicate step id '{step_id}'")
    else:
        return step_id
    return None


def _number_field(raw, key, where, errors, *, default, minimum, whole, unit):
    value = raw.get(key)
    if value is None:
        return default
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (whole and not isinstance(value, int)) or value < minimum:
        kind = "a whole number" if whole else "a number"
        bound = "greater than 0" if minimum == 1 else f"{minimum} or more"
        add_error(errors, f"{where}.{key}", f"must be {kind} of {unit} {bound}")
        return default
    return value if whole else float(value)


def _bool_field(raw, key, where, errors, default):
    value = raw.get(key, default)
    if not isinstance(value, bool):
        add_error(errors, f"{where}.{key}", "must be true or false")
        return default
    return value


def _step_type(raw, where, errors, rules):
    """The step's type and its executor (None when the type is missing, unknown, or not
    allowed in the workspace)."""
    step_type = raw.get("type")
    if step_type is None:
        add_error(errors, f"{where}.type", "is required")
        return None, None
    executor = get_executor(step_type) if isinstance(step_type, str) else None
    if executor is None:
        known = ", ".join(executor_names())
        add_error(errors, f"{where}.type", f"unknown step type {step_type!r}; known types: {known}")
    elif not rules.allows_type(step_type):
        add_error(errors, f"{where}.type", forbidden_type_message(step_type, rules))
    return (step_type if isinstance(step_type, str) else None), executor


def _normalize_step(raw, where, seen, errors, rules):
    if not isinstance(raw, dict):
        add_error(errors, where, "must be a mapping with at least an id and a type")
        return None
    step_id = _step_id(raw, where, seen, errors)
    if step_id is not None:
        where = f"steps.{step_id}"  # from here on the step is named by its id
    reject_unknown_keys(raw, STEP_KEYS, where, errors)
    step_type, executor = _step_type(raw, where, errors, rules)

    with_ = {} if raw.get("with") is None else raw["with"]
    if not isinstance(with_, dict):
        add_error(errors, f"{where}.with", "must be a mapping")
        with_ = {}
    elif executor is not None:
        for key, message in executor.validate(with_):
            add_error(errors, f"{where}.with.{key}" if key else f"{where}.with", message)
        argv_key = getattr(executor, "argv_key", None)
        if argv_key and isinstance(with_.get(argv_key), list):
            for index, message in interpreter_problems(with_[argv_key]):
                add_error(errors, f"{where}.with.{argv_key}[{index}]", message)

    needs = [] if raw.get("needs") is None else raw["needs"]
    if isinstance(needs, str):
        needs = [needs]  # `needs: fetch` reads naturally for a single step
    if not isinstance(needs, list) or not all(isinstance(need, str) for need in needs):
        add_error(errors, f"{where}.needs", "must be a list of step ids")
        needs = []

    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        add_error(errors, f"{where}.name", "must be a string")

    max_timeout = getattr(settings, "JOBSITE_MAX_STEP_TIMEOUT", 21600)
    timeout = _number_field(
        raw, "timeout", where, errors, default=None, minimum=1, whole=True, unit="seconds"
    )
    if timeout is not None and timeout > max_timeout:
        message = f"must be at most {max_timeout} seconds (JOBSITE_MAX_STEP_TIMEOUT)"
        add_error(errors, f"{where}.timeout", message)

    idempotent_default = getattr(executor, "idempotent_by_default", None)
    if idempotent_default is None:
        idempotent_default = step_type in IDEMPOTENT_BY_DEFAULT
    step = {
        "id": step_id,
        "type": step_type,
        "name": name or step_id,
        "with": with_,
        "needs": list(dict.fromkeys(needs)),  # a repeated need means nothing more
        "params": normalize_declarations(raw.get("params"), f"{where}.params", errors),
        "timeout": timeout,
        "retries": _number_field(
            raw, "retries", where, errors, default=0, minimum=0, whole=True, unit="retries"
        ),
        "retry_backoff": _number_field(
            raw, "retry_backoff", where, errors, default=2.0, minimum=0, whole=False, unit="seconds"
        ),
        "idempotent": _bool_field(raw, "idempotent", where, errors, idempotent_default),
        "continue_on_failure": _bool_field(raw, "continue_on_failure", where, errors, False),
    }
    runs_on = pool_name(raw, where, errors)
    if runs_on:
        step["runs_on"] = runs_on
    return step if step_id is not None else None


# --- the needs graph ----------------------------------------------------------------------


def _check_needs(steps, errors):
    """Unknown needs and cycles; afterwards every need names a step and the graph is a DAG
    (when there are no errors)."""
    ids = {step["id"] for step in steps}
    graph = {}
    for step in steps:
        for need in step["needs"]:
            if need not in ids:
                add_error(errors, f"steps.{step['id']}.needs", f"unknown step '{need}'")
        graph[step["id"]] = [need for need in step["needs"] if need in ids]

    # Depth-first search without recursion (a long chain must not hit the recursion limit).
    state, reported = {}, set()  # state: "open" while on the current path, then "done"
    for start in graph:
        if start in state:
            continue
        state[start], path, stack = "open", [start], [iter(graph[start])]
        while stack:
            need = next(stack[-1], None)
            if need is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(need) == "open":
                cycle = path[path.index(need) :] + [need]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    add_error(errors, f"steps.{need}.needs", "cycle in needs: " + " → ".join(cycle))
            elif need not in state:
                state[need] = "open"
                path.append(need)
                stack.append(iter(graph[need]))


def upstream_of(steps):
    """{step id: ids of every step it waits for, directly or not}."""
    graph = {step["id"]: step["needs"] for step in steps}
    upstream = {}
    for step_id in graph:
        seen, pending = set(), list(graph[step_id])
        while pending:
            need = pending.pop()
            if need in graph and need not in seen:
                seen.add(need)
                pending.extend(graph[need])
        upstream[step_id] = frozenset(seen)
    return upstream


# --- references -------------------------------------------------------------------------


def _check_references(definition, errors):
    raw_keys = {}
    for step in definition["steps"]:
        executor = get_executor(step["type"]) if step["type"] else None
        raw_keys[step["id"]] = executor.raw_keys if executor else frozenset()
    upstream = upstream_of(definition["steps"])
    for path, message in definition_reference_problems(definition, upstream, raw_keys):
        add_error(errors, path, message)
