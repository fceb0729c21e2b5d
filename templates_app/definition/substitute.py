"""`{{ path }}` substitution (SPEC §3): a dotted-path lookup in plain data, never code.

The context is nested dicts: {"vars": {...}, "params": {...}, "steps": {id: {"outputs":
{...}}}, "job": {"id", "name"}, "workspace": {"slug"}}. A path walks dict keys and list
indexes only; there is no eval, no attribute access and no filter language, so a value
can never become code. Substitution is a single pass: a substituted value is never
scanned again, so a variable whose value is "{{ vars.other }}" stays exactly that text.
"""

import copy
import json
import re
from typing import NamedTuple

# The content may not contain another "{{": a stray "{{" then stays text (and is reported
# when the template is saved), and scanning stays linear in the length of the text.
PLACEHOLDER_RE = re.compile(r"\{\{((?:(?!\{\{).)*?)\}\}", re.DOTALL)
DOTTED_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
ONLY_DOTTED_NAMES = "only dotted names are allowed inside {{ }}"
JOB_REFERENCES = frozenset({"job.id", "job.name", "workspace.slug"})
ENVIRONMENT_ONLY = "pass values as environment variables ($VAR_NAME)"


class SubstitutionError(Exception):
    """A `{{ }}` that cannot be filled in; `path` says which."""

    def __init__(self, path, message=None):
        self.path = path
        super().__init__(message or f"'{path}' is not available")


def is_dotted_path(text):
    return DOTTED_PATH_RE.fullmatch(text) is not None


def placeholders(text):
    """The stripped contents of every `{{ … }}` in `text`, valid paths or not."""
    return [match.group(1).strip() for match in PLACEHOLDER_RE.finditer(text)]


def has_unclosed_placeholder(text):
    return "{{" in PLACEHOLDER_RE.sub("", text)


def iter_strings(value, path=""):
    """(path, string) for every string inside nested dicts and lists; paths look like
    `headers.Authorization` and `command[2]`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


def references(value):
    """The dotted paths `value` refers to, in order of first use."""
    found = []
    for _, text in iter_strings(value):
        for content in placeholders(text):
            if is_dotted_path(content) and content not in found:
                found.append(content)
    return found


# --- checking references when a template is saved ------------------------------------------


class ReferenceScope(NamedTuple):
    """What a `{{ }}` may refer to at one place of a template."""

    place: str  # where the value is written, e.g. "steps.fetch.with.url"
    variables: frozenset  # declared variable names
    steps: frozenset  # every step id of the template
    step_id: str | None = None  # the step whose `with` this is
    params: frozenset | None = None  # that step's params; None: no params here
    visible_steps: frozenset | None = None  # steps whose outputs exist here; None: all


def reference_problems(value, scope):
    """(location inside `value`, message) for every `{{ }}` that could not be filled in
    at `scope`: not a dotted path, or a path the context will not have."""
    problems = []
    for location, text in iter_strings(value):
        for content in placeholders(text):
            if not is_dotted_path(content):
                problems.append((location, f"{{{{ {content} }}}}: {ONLY_DOTTED_NAMES}"))
            elif problem := _reference_problem(content, scope):
                problems.append((location, problem))
        if has_unclosed_placeholder(text):
            problems.append((location, "'{{' without a closing '}}'"))
    return problems


def definition_reference_problems(definition, upstream, raw_keys):
    """(error path, message) for every `{{ }}` of a normalized definition that could not be
    filled in where it is written.

    `upstream` maps a step id to the ids of every step it waits for; `raw_keys` maps a
    step id to the keys of its `with` that are never substituted.
    """
    variables = frozenset(definition["variables"])
    steps = frozenset(step["id"] for step in definition["steps"])
    places = []  # (value, scope)
    for step in definition["steps"]:
        params = frozenset(step["params"])
        for key, value in step["with"].items():
            place = f"steps.{step['id']}.with.{key}"
            if key not in raw_keys[step["id"]]:
                scope = ReferenceScope(
                    place, variables, steps, step["id"], params, upstream[step["id"]]
                )
                places.append((value, scope))
            elif any("{{" in text for _, text in iter_strings(value)):
                # Raw keys (a shell script) get values only from the environment, so no
                # value can ever be spliced into code.
                where_it_is = f"a {step['type']} {key}"
                yield place, f"{{{{ }}}} is not allowed in {where_it_is}: " + ENVIRONMENT_ONLY
    if isinstance(definition["result"], str):
        places.append((definition["result"], ReferenceScope("result", variables, steps)))
    concurrency = definition["settings"]["concurrency"]
    if concurrency and isinstance(concurrency["key"], str):
        # The key is computed when the job is queued, before any step has run.
        place = "settings.concurrency.key"
        places.append(
            (concurrency["key"], ReferenceScope(place, variables, steps, visible_steps=frozenset()))
        )
    for value, scope in places:
        for location, message in reference_problems(value, scope):
            separator = "" if not location or location.startswith("[") else "."
            yield f"{scope.place}{separator}{location}", message


def _reference_problem(path, scope):
    parts = path.split(".")
    unknown = f"unknown reference '{path}'"
    if parts[0] == "vars" and len(parts) >= 2:
        if parts[1] not in scope.variables:
            return f"{unknown}: no variable '{parts[1]}' is declared"
        return None
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
            return f"{unknown}: step outputs are not available in {scope.place}"
        return f"{unknown}: step '{step}' is not upstream of '{scope.step_id}' (add it to needs)"
    return None if path in JOB_REFERENCES else unknown


# --- rendering -------------------------------------------------------------------------------


def lookup(path, context):
    """The value at a dotted path: dict keys and list indexes, nothing else."""
    current = context
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif (
            isinstance(current, list | tuple)
            and part.isascii()
            and part.isdigit()
            and int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            raise SubstitutionError(path)
    return current


def format_value(value):
    """How a value reads when spliced into a longer string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _path_of(match):
    content = match.group(1).strip()
    if not is_dotted_path(content):
        raise SubstitutionError(content, f"{{{{ {content} }}}}: {ONLY_DOTTED_NAMES}")
    return content


def _render_string(text, context):
    matches = list(PLACEHOLDER_RE.finditer(text))
    if not matches:
        return text
    # A string that is one placeholder and nothing else keeps the value's own type, so
    # `json: "{{ vars.ids }}"` sends a list, not its text.
    if len(matches) == 1 and matches[0].span() == (0, len(text)):
        # A copy, so a step that changes what it was given cannot change the context.
        return copy.deepcopy(lookup(_path_of(matches[0]), context))
    # re.sub makes one pass over the original text: replacements are never re-scanned.
    return PLACEHOLDER_RE.sub(lambda m: format_value(lookup(_path_of(m), context)), text)


def _render(value, context):
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, dict):
        return {key: _render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_render(item, context) for item in value]
    return value


def render(value, context, skip_keys=frozenset()):
    """`value` with every `{{ path }}` in its strings filled in from `context`.

    Dict keys are never rendered. When `value` is a dict, its top-level keys named in
    `skip_keys` are returned untouched (a shell `script` gets values only through the
    environment). Raises SubstitutionError for a missing path or a placeholder that is
    not a dotted path.
    """
    if isinstance(value, dict):
        return {
            key: item if key in skip_keys else _render(item, context) for key, item in value.items()
        }
    return _render(value, context)
