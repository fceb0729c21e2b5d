"""A template's `settings.limits` and what a workspace allows its templates (SPEC §13).

Pure data: the workspace's rules arrive as a `DefinitionRules` (built from the workspace
and the server caps by templates_app/policy.py), so the definition language still knows
nothing about models.

A template may lower a limit, never raise it: a value above the ceiling (the
workspace's default for that limit, itself within the server cap) is refused when the
template is saved, naming the field and the ceiling. The engine clamps again when a step
runs, because staff may lower a workspace's limits after a template was saved
(docs/security.md).
"""

from dataclasses import dataclass, field

from .parse import add_error, reject_unknown_keys

# Per step: enforced by the sandbox around each shell step (rlimits).
STEP_LIMIT_KEYS = ("cpu_seconds", "memory_mb", "max_file_mb", "max_processes")
# Per job: the total of the artifacts its steps store.
JOB_LIMIT_KEYS = ("max_artifacts_mb",)
LIMIT_KEYS = STEP_LIMIT_KEYS + JOB_LIMIT_KEYS
LIMIT_UNITS = {
    "cpu_seconds": "CPU seconds",
    "memory_mb": "MB",
    "max_file_mb": "MB",
    "max_processes": "processes",
    "max_artifacts_mb": "MB",
}


@dataclass(frozen=True)
class Ceiling:
    value: int
    source: str  # who set it, for the error message: "this workspace's memory_mb"


@dataclass(frozen=True)
class DefinitionRules:
    """What one workspace allows its templates."""

    # None: every step type the server knows.
    allowed_step_types: frozenset | None = None
    # {limit name: Ceiling}; a limit without a ceiling is only checked for its shape.
    limit_ceilings: dict = field(default_factory=dict)

    def allows_type(self, step_type: str) -> bool:
        return self.allowed_step_types is None or step_type in self.allowed_step_types

    def allowed_types_text(self) -> str:
        return ", ".join(sorted(self.allowed_step_types or ())) or "none"


def forbidden_type_message(step_type: str, rules: DefinitionRules) -> str:
    return (
        f"step type '{step_type}' is not allowed in this workspace "
        f"(allowed: {rules.allowed_types_text()}; server staff choose them)"
    )


def forbidden_step_types(definition: dict, rules: DefinitionRules | None) -> list[tuple[str, str]]:
    """[(step id, type)] of the steps of a normalized definition that `rules` forbid."""
    if rules is None or rules.allowed_step_types is None:
        return []
    return [
        (step["id"], step["type"])
        for step in definition.get("steps", [])
        if not rules.allows_type(step["type"])
    ]


def normalize_limits(raw: object, errors: dict, rules: DefinitionRules | None) -> dict[str, int]:
    """settings.limits as written → {limit name: whole number}, only the limits given."""
    where = "settings.limits"
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        add_error(errors, where, "must be a mapping such as {memory_mb: 512, cpu_seconds: 60}")
        return {}
    reject_unknown_keys(raw, LIMIT_KEYS, where, errors)
    limits = {}
    for key in LIMIT_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            add_error(
                errors,
                f"{where}.{key}",
                f"must be a whole number of {LIMIT_UNITS[key]} greater than 0",
            )
            continue
        ceiling = (rules.limit_ceilings if rules else {}).get(key)
        if ceiling is not None and value > ceiling.value:
            add_error(
                errors, f"{where}.{key}", f"must be at most {ceiling.value} ({ceiling.source})"
            )
            continue
        limits[key] = value
    return limits
