"""Reading a template's source: YAML text, JSON text or an already-parsed mapping.

Everything here is about shape: the text parses, the document is a mapping, and every
value is plain JSON data. What the keys mean is checked in validate.py.
"""

import datetime
import json
import math
import re

import yaml
from django.conf import settings

SETTINGS_KEYS = ("timeout", "concurrency", "trigger_url", "log_limit_bytes")
CONCURRENCY_KEYS = ("limit", "key", "when_full")
WHEN_FULL = ("queue", "reject", "cancel_previous")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
DEFAULT_LOG_LIMIT_BYTES = 10 * 1024 * 1024


class DefinitionError(Exception):
    """Every problem found in a definition, keyed by where it is ("steps.fetch.with.url")."""

    def __init__(self, errors):
        self.errors = {path: list(messages) for path, messages in errors.items()}
        super().__init__(str(self))

    def __str__(self):
        return "\n".join(
            f"{path}: {message}" if path else message
            for path, messages in self.errors.items()
            for message in messages
        )


def add_error(errors, path, message):
    errors.setdefault(path, []).append(message)


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


def _yaml_problem(exc):
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def _parse_text(text, errors):
    # JSON is tried first for text that looks like JSON, so a JSON author gets a JSON
    # error message; a YAML flow mapping ("{a: 1}") still falls through to YAML.
    looks_like_json = text.lstrip().startswith("{")
    if looks_like_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_problem = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        add_error(errors, "source", json_problem if looks_like_json else _yaml_problem(exc))
        return None


def to_json_data(value, path, errors):
    """A copy of `value` that json.dumps accepts, or None after recording a problem.

    YAML turns unquoted dates into date objects; they become ISO strings here so that a
    `default: 2024-01-31` works. Anything else that is not JSON (binary, sets, NaN,
    non-string keys) is refused rather than silently changed.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        add_error(errors, path, "must be a finite number")
        return None
    if isinstance(value, datetime.date):  # datetime.datetime is a subclass
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json_data(item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
    if isinstance(value, dict):
        copy = {}
        for key, item in value.items():
            if not isinstance(key, str):
                add_error(errors, path, f"keys must be strings, got {key!r}")
                continue
            copy[key] = to_json_data(item, f"{path}.{key}" if path else key, errors)
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
        document = _parse_text(source, errors)
        if errors:
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
        add_error(errors, "source", f"the definition must be a mapping of keys to values, got {kind}")
        return None
    return to_json_data(document, "", errors)


# --- the top-level fields ------------------------------------------------------------------


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


def normalize_result(document, errors):
    result = document.get("result")
    if result is not None and not isinstance(result, str):
        add_error(errors, "result", "must be markdown text")
    return result


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def normalize_settings(raw, errors):
    normalized = {
        "timeout": None,
        "concurrency": None,
        "trigger_url": {"enabled": False},
        "log_limit_bytes": getattr(settings, "JOBSITE_LOG_LIMIT_BYTES", DEFAULT_LOG_LIMIT_BYTES),
    }
    if raw is None:
        return normalized
    if not isinstance(raw, dict):
        add_error(errors, "settings", "must be a mapping")
        return normalized
    for key in raw:
        if key not in SETTINGS_KEYS:
            add_error(errors, f"settings.{key}", f"unknown key '{key}'; allowed: {', '.join(SETTINGS_KEYS)}")
    if raw.get("timeout") is not None:
        normalized["timeout"] = raw["timeout"]
        if not _positive_int(raw["timeout"]):
            add_error(errors, "settings.timeout", "must be a whole number of seconds greater than 0")
    if raw.get("log_limit_bytes") is not None:
        normalized["log_limit_bytes"] = raw["log_limit_bytes"]
        if not _positive_int(raw["log_limit_bytes"]):
            add_error(errors, "settings.log_limit_bytes", "must be a whole number of bytes greater than 0")
    trigger_url = raw.get("trigger_url")
    if trigger_url is not None:
        enabled = trigger_url.get("enabled", False) if isinstance(trigger_url, dict) else None
        if not isinstance(enabled, bool) or set(trigger_url) - {"enabled"}:
            add_error(errors, "settings.trigger_url", "must be a mapping such as {enabled: true}")
        normalized["trigger_url"] = {"enabled": enabled is True}
    if raw.get("concurrency") is not None:
        normalized["concurrency"] = _concurrency(raw["concurrency"], errors)
    return normalized


def _concurrency(raw, errors):
    where = "settings.concurrency"
    if not isinstance(raw, dict):
        add_error(errors, where, "must be a mapping such as {limit: 1, key: \"{{ vars.region }}\", when_full: queue}")
        return None
    for key in raw:
        if key not in CONCURRENCY_KEYS:
            add_error(errors, f"{where}.{key}", f"unknown key '{key}'; allowed: {', '.join(CONCURRENCY_KEYS)}")
    concurrency = {
        "limit": raw.get("limit", 1),
        "key": raw.get("key") or "",
        "when_full": raw.get("when_full", "queue"),
    }
    if not _positive_int(concurrency["limit"]):
        add_error(errors, f"{where}.limit", "must be a whole number, 1 or more")
    if not isinstance(concurrency["key"], str):
        add_error(errors, f"{where}.key", "must be a string")
    if concurrency["when_full"] not in WHEN_FULL:
        add_error(errors, f"{where}.when_full", f"must be one of: {', '.join(WHEN_FULL)}")
    return concurrency
