"""A workspace's containment settings (staff only, SPEC §13) as the definition language
and the engine use them: allowed step types, and the effective limits of a template.

Each limit has a ceiling: the workspace's value (or, when staff left it empty, the
server default), never above the server cap `JOBSITE_MAX_*`. A template's
`settings.limits` may ask for less, never more (docs/security.md).
"""

from django.conf import settings

from jobs.executors.sandbox import DEFAULT_LIMITS
from jobsite.models import Workspace

from .definition.limits import LIMIT_KEYS, Ceiling, DefinitionRules, forbidden_step_types

# A job's artifacts, when staff set nothing for the workspace.
DEFAULT_MAX_ARTIFACTS_MB = 1024

SERVER_CAPS = {
    "cpu_seconds": "JOBSITE_MAX_CPU_SECONDS",
    "memory_mb": "JOBSITE_MAX_MEMORY_MB",
    "max_file_mb": "JOBSITE_MAX_FILE_MB",
    "max_processes": "JOBSITE_MAX_PROCESSES",
    "max_artifacts_mb": "JOBSITE_MAX_ARTIFACTS_MB",
}


def server_default(key: str) -> int | None:
    if key == "max_artifacts_mb":
        return DEFAULT_MAX_ARTIFACTS_MB
    return getattr(DEFAULT_LIMITS, key, None)


def limit_ceilings(workspace: Workspace) -> dict:
    """{limit name: Ceiling} for the workspace: its value or the server default, within
    the server cap; the source names whoever set the binding value."""
    ceilings = {}
    for key in LIMIT_KEYS:
        cap_name = SERVER_CAPS[key]
        cap = getattr(settings, cap_name)
        own, default = getattr(workspace, key, None), server_default(key)
        if own is not None and own <= cap:
            ceilings[key] = Ceiling(own, f"this workspace's {key}, set by server staff")
        elif own is None and default is not None and default <= cap:
            ceilings[key] = Ceiling(default, f"the server's default {key}")
        else:
            ceilings[key] = Ceiling(cap, f"the server's {cap_name}")
    return ceilings


def definition_rules(workspace: Workspace) -> DefinitionRules:
    allowed = workspace.allowed_step_types or None
    return DefinitionRules(
        allowed_step_types=frozenset(allowed) if allowed else None,
        limit_ceilings=limit_ceilings(workspace),
    )


def effective_limits(workspace: Workspace, definition: dict) -> dict:
    """{limit name: value} a job of `definition` runs with: the template's own value or
    the ceiling, whichever is lower (a template saved before staff lowered a workspace's
    limit gets the new, lower one)."""
    asked = (definition.get("settings") or {}).get("limits") or {}
    limits = {}
    for key, ceiling in limit_ceilings(workspace).items():
        value = asked.get(key)
        limits[key] = ceiling.value if value is None else min(value, ceiling.value)
    return limits


def forbidden_steps_problem(workspace: Workspace, definition: dict) -> str | None:
    """Why a job of `definition` may not be created in `workspace` now, or None: a step
    type staff forbade after the template was saved (jobs created before keep running)."""
    forbidden = forbidden_step_types(definition, definition_rules(workspace))
    if not forbidden:
        return None
    return "; ".join(
        f"step {step_id} uses type '{step_type}', which this workspace does not allow"
        for step_id, step_type in forbidden
    )
