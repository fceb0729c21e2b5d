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

PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
DOTTED_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
ONLY_DOTTED_NAMES = "only dotted names are allowed inside {{ }}"


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


def lookup(path, context):
    """The value at a dotted path: dict keys and list indexes, nothing else."""
    current = context
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple) and part.isascii() and part.isdigit() and int(part) < len(current):
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
            key: item if key in skip_keys else _render(item, context)
            for key, item in value.items()
        }
    return _render(value, context)
