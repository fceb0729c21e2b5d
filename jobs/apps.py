import os
import sys

from django.apps import AppConfig

from jobs.executors.process_group import die_with_parent


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if sys.argv[1:2] == ["qcluster"]:
            # django-q2's cluster forks a sentinel, which forks the workers, the pusher and
            # the monitor; none of them notices when its parent is SIGKILLed. A killed
            # worker host would leave a headless cluster behind that keeps taking tasks and
            # running steps. So every process forked in a qcluster dies with its parent.
            os.register_at_fork(after_in_child=die_with_parent)
