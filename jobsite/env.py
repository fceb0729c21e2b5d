"""The environment read as settings (SPEC §12): each helper names the variable when its
value is not what it should be, so a bad value stops the start with one line saying which.
jobsite/settings.py reads every variable through these."""

import importlib.util
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number")
    return value


def env_positive_int(name: str, default: int) -> int:
    """A whole number greater than 0 (a limit or a cap); anything else names the variable."""
    value = env_int(name, default)
    if value <= 0:
        raise ImproperlyConfigured(f"{name}={value!r} must be a whole number greater than 0")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def require_extra(module: str, extra: str, needed_for: str) -> None:
    """Stop with one line naming the extra to install when an optional client is missing
    (PostgreSQL's psycopg and the Redis client are extras, not installed for everyone)."""
    if importlib.util.find_spec(module) is None:
        raise ImproperlyConfigured(
            f"{needed_for} needs the {module} package, which is not installed: "
            f"pip install 'jobsite[{extra}]' (in a checkout: make venv EXTRAS={extra})"
        )
