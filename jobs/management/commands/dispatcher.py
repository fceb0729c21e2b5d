from django.core.management.base import BaseCommand

from jobs.worker.dispatcher import run_forever


class Command(BaseCommand):
    help = "Run the dispatcher/reaper loop (leases, retries, timeouts, lost tasks)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=None, help="seconds between passes")

    def handle(self, *args, **options):
        try:
            run_forever(interval=options["interval"])
        except KeyboardInterrupt:
            pass
