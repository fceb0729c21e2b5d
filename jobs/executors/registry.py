"""Step type name → executor. Built-ins plus whatever settings.JOBSITE_EXECUTORS adds."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from jobs.executors.base import Executor

BUILTIN_EXECUTORS = {
    "shell": "jobs.executors.shell.ShellExecutor",
    "http": "jobs.executors.http.HttpExecutor",
    "python": "jobs.executors.python.PythonExecutor",
    "report": "jobs.executors.report.ReportExecutor",
    "sleep": "jobs.executors.sleep.SleepExecutor",
    "noop": "jobs.executors.noop.NoopExecutor",
}


@cache
def _registry():
    paths = {**BUILTIN_EXECUTORS, **getattr(settings, "JOBSITE_EXECUTORS", {})}
    return {name: import_string(path)() for name, path in paths.items()}


def executor_names() -> list[str]:
    return sorted(_registry())


def get_executor(name: str) -> Executor | None:
    """The executor for a step type, or None when no such type exists."""
    return _registry().get(name)
