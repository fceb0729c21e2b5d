import os
import sys

from django.apps import AppConfig

from jobs.executors.process_group import die_with_parent


def refuse_to_start_without_a_required_sandbox() -> None:
    """JOBSITE_SANDBOX=bwrap where bwrap does not work: the processes that run steps stop
    before they start, with one line (manage.py prints ImproperlyConfigured that way)."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if settings.JOBSITE_SANDBOX != "bwrap":
        return
    from jobs.executors.sandbox import bwrap_problem

    problem = bwrap_problem()
    if problem:
        raise ImproperlyConfigured(f"JOBSITE_SANDBOX=bwrap but bwrap does not work here: {problem}")


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from jobs import checks  # noqa: F401 - registers the containment checks

        if sys.argv[1:2] in (["serve"], ["worker"], ["qcluster"]):
            refuse_to_start_without_a_required_sandbox()
        if sys.argv[1:2] == ["qcluster"]:
            # django-q2's cluster forks a sentinel, which forks the workers, the pusher and
            # the monitor; none of them notices when its parent is SIGKILLed. A killed
            # worker host would leave a headless cluster behind that keeps taking tasks and
            # running steps. So every process forked in a qcluster dies with its parent.
            os.register_at_fork(after_in_child=die_with_parent)
