"""A template's `settings` block (SPEC §3): timeout, concurrency, trigger URL, log limit,
limits and the worker pool it runs on (`runs_on`, also a step's)."""

import re

from django.conf import settings

from .limits import normalize_limits
from .parse import add_error, reject_unknown_keys

SETTINGS_KEYS = ("timeout", "concurrency", "trigger_url", "log_limit_bytes", "limits", "runs_on")
# A worker pool's name (SPEC §14): it becomes part of a django-q2 queue name.
POOL_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
CONCURRENCY_KEYS = ("limit", "key", "when_full")
WHEN_FULL = ("queue", "reject", "cancel_previous")
DEFAULT_LOG_LIMIT_BYTES = 10 * 1024 * 1024


def is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def normalize_settings(raw, errors, rules):
    normalized = {
        "timeout": None,
        "concurrency": None,
        "trigger_url": {"enabled": False},
        "log_limit_bytes": getattr(settings, "JOBSITE_LOG_LIMIT_BYTES", DEFAULT_LOG_LIMIT_BYTES),
        "limits": {},
    }
    if raw is None:
        return normalized
    if not isinstance(raw, dict):
        add_error(errors, "settings", "must be a mapping")
        return normalized
    reject_unknown_keys(raw, SETTINGS_KEYS, "settings", errors)
    for key, unit in (("timeout", "seconds"), ("log_limit_bytes", "bytes")):
        if raw.get(key) is not None:
            normalized[key] = raw[key]
            if not is_positive_int(raw[key]):
                add_error(
                    errors, f"settings.{key}", f"must be a whole number of {unit} greater than 0"
                )
    trigger_url = raw.get("trigger_url")
    if trigger_url is not None:
        enabled = trigger_url.get("enabled", False) if isinstance(trigger_url, dict) else None
        if not isinstance(enabled, bool) or set(trigger_url) - {"enabled"}:
            add_error(errors, "settings.trigger_url", "must be a mapping such as {enabled: true}")
        normalized["trigger_url"] = {"enabled": enabled is True}
    if raw.get("concurrency") is not None:
        normalized["concurrency"] = normalize_concurrency(raw["concurrency"], errors)
    normalized["limits"] = normalize_limits(raw.get("limits"), errors, rules)
    runs_on = pool_name(raw, "settings", errors)
    if runs_on:
        normalized["runs_on"] = runs_on
    return normalized


def pool_name(raw, where, errors):
    """`runs_on` of a step or of the template's settings: a pool name, or None. Any
    well-formed name is taken (its steps wait until a host of that pool appears), unless
    the server declares a closed list (JOBSITE_KNOWN_POOLS)."""
    value = raw.get("runs_on")
    if value is None:
        return None
    if not isinstance(value, str) or not POOL_RE.fullmatch(value):
        add_error(
            errors, f"{where}.runs_on",
            "must be a pool name: up to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit",
        )  # fmt: skip
        return None
    known = getattr(settings, "JOBSITE_KNOWN_POOLS", None) or []
    if known and value not in known:
        add_error(
            errors, f"{where}.runs_on", f"unknown pool '{value}'; known pools: {', '.join(known)}"
        )
        return None
    return value


def normalize_concurrency(raw, errors):
    where = "settings.concurrency"
    if not isinstance(raw, dict):
        example = '{limit: 1, key: "{{ vars.region }}", when_full: queue}'
        add_error(errors, where, f"must be a mapping such as {example}")
        return None
    reject_unknown_keys(raw, CONCURRENCY_KEYS, where, errors)
    concurrency = {
        "limit": raw.get("limit", 1),
        "key": "" if raw.get("key") is None else raw["key"],  # "": one queue per template
        "when_full": raw.get("when_full", "queue"),
    }
    if not is_positive_int(concurrency["limit"]):
        add_error(errors, f"{where}.limit", "must be a whole number, 1 or more")
    if not isinstance(concurrency["key"], str):
        add_error(errors, f"{where}.key", "must be a string")
    if concurrency["when_full"] not in WHEN_FULL:
        add_error(errors, f"{where}.when_full", f"must be one of: {', '.join(WHEN_FULL)}")
    return concurrency
