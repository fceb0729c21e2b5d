"""System checks for step containment (SPEC §13: off is loud)."""

from django.conf import settings
from django.core import checks
from django.db import DatabaseError

from jobs.executors.sandbox import bwrap_problem, sandbox_mode
from jobsite.models import Workspace

ADVICE = "Turn it on: JOBSITE_SANDBOX=bwrap with a working bwrap (docs/sandbox.md). docs/security.md says what a step can reach without it."


def sandbox_off_message() -> str:
    """Why the sandbox is off, in one line: for the checks, the banner and /readyz."""
    if settings.JOBSITE_SANDBOX == "off":
        return "the step sandbox is off (JOBSITE_SANDBOX=off): shell steps can read the server's files, environment and network"
    return (
        f"the step sandbox is off ({bwrap_problem() or 'no working bwrap'}): shell steps can read the server's "
        "files, environment and network"
    )


@checks.register(checks.Tags.security)
def warn_when_the_sandbox_is_off(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if sandbox_mode() != "off":
        return []
    return [checks.Warning(sandbox_off_message(), hint=ADVICE, id="jobsite.W010")]


def workspace_count() -> int:
    try:
        return Workspace.objects.count()
    except DatabaseError:  # not migrated yet, or the database is away: nothing to compare
        return 0


@checks.register(checks.Tags.security, deploy=True)
def refuse_a_shared_server_without_the_sandbox(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if sandbox_mode() != "off":
        return []
    count = workspace_count()
    if count <= 1:
        return []
    return [
        checks.Error(
            f"{sandbox_off_message()}, and {count} workspaces share this server: "
            "an admin of one workspace can read every other workspace's data from inside a step",
            hint=ADVICE,
            id="jobsite.E010",
        )
    ]
