from django.core.management.base import BaseCommand, CommandError

from jobs.models import WorkerHost
from jobs.worker import hosts as worker_hosts


class Command(BaseCommand):
    help = "Drain a worker host: it finishes its running steps, takes no new ones, and exits."

    def add_arguments(self, parser):
        parser.add_argument(
            "host", nargs="?", help="host id (default: this host, JOBSITE_WORKER_ID)"
        )

    def handle(self, *args, **options):
        host = options["host"] or worker_hosts.this_host()
        if not worker_hosts.request_drain(host):
            known = ", ".join(WorkerHost.objects.values_list("host_id", flat=True)) or "none"
            raise CommandError(f"no worker host {host!r} (known: {known})")
        running = worker_hosts.running_steps_on(host)
        self.stdout.write(
            f"draining {host}: {running} running step(s) will finish; no new ones will start"
        )
