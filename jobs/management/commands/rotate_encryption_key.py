"""`manage.py rotate_encryption_key`: encrypt every stored secret again with the first key
of JOBSITE_ENCRYPTION_KEY (docs/security.md).

Rotation: put a new key first in JOBSITE_ENCRYPTION_KEY (keep the old ones after it),
restart, run this, then drop the old keys. Until it has run, the old keys still decrypt
what they encrypted. Plain values left from before encryption existed are encrypted too.
Safe to run again, and while jobs run (each row is rewritten on its own)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from jobs.models import Job, Schedule, WebhookEndpoint
from jobsite.secrets import reseal


class Command(BaseCommand):
    help = "Encrypt every stored secret with the first key of JOBSITE_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        counts = {}
        for model in (Job, Schedule):
            rows = model.objects.exclude(sealed_secrets="").values_list("pk", "sealed_secrets")
            done = 0
            for pk, sealed in rows.iterator():
                # Conditional on the value read, so a row changed meanwhile is left as it is.
                done += model.objects.filter(pk=pk, sealed_secrets=sealed).update(
                    sealed_secrets=reseal(sealed)
                )
            counts[model._meta.verbose_name_plural] = done
        done = 0
        for endpoint in WebhookEndpoint.objects.all().iterator():
            with transaction.atomic():
                # Loading decrypts (any key); saving encrypts with the first.
                endpoint.save(update_fields=["secret", "previous_secret"])
            done += 1
        counts["webhook endpoints"] = done
        self.stdout.write(
            "re-encrypted: " + ", ".join(f"{count} {name}" for name, count in counts.items())
        )
