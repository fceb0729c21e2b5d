from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.supervisor import manage_command, supervise


class Command(BaseCommand):
    help = "Run one worker host: a django-q2 cluster and the dispatcher loop beside it."

    def add_arguments(self, parser):
        parser.add_argument("--no-dispatcher", action="store_true", help="run only the worker cluster")

    def handle(self, *args, **options):
        children = {"workers": manage_command("qcluster")}
        if not options["no_dispatcher"]:
            children["dispatcher"] = manage_command("dispatcher")
        self.stdout.write(
            f"worker host {settings.JOBSITE_WORKER_ID}: {settings.JOBSITE_WORKERS} workers, "
            f"broker={settings.JOBSITE_BROKER}"
        )
        raise SystemExit(supervise(children, out=self.stdout))
