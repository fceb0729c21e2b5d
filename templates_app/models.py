"""Job templates and their immutable versions."""

import secrets
import uuid

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from jobsite.models import Workspace, hash_key

TRIGGER_KEY_PREFIX = "jtk_"
TRIGGER_URL_DISABLED = (
    "This template does not allow triggering by URL: set settings.trigger_url.enabled first."
)


class TriggerUrlDisabled(Exception):
    """The template's definition does not enable `settings.trigger_url`."""


class JobTemplate(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="templates")
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=100, blank=True, default="")
    description = models.TextField(blank=True, default="")
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Hash of the per-template trigger key (SPEC §6.4); the raw key is shown once.
    trigger_key_hash = models.CharField(max_length=64, blank=True, default="")
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="template_unique_slug")
        ]

    def __str__(self):
        return self.name

    @property
    def definition(self):
        return self.current_version.definition if self.current_version_id else {}


class TemplateVersion(models.Model):
    """One saved state of a template. Never updated after it is written; a job points at
    the version it ran, so editing a template never changes a past job."""

    template = models.ForeignKey(JobTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    source = models.TextField(blank=True, default="", help_text="The YAML or JSON text as written.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="template_version_unique_number"
            )
        ]

    def __str__(self):
        return f"{self.template.slug} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Template versions are immutable; save a new version instead.")
        super().save(*args, **kwargs)


@transaction.atomic
def save_template_version(workspace, definition, source="", user=None):
    """Create or update the template named by definition["slug"] with a new version.

    `definition` must already be validated (templates_app.definition.load_definition).
    Returns the template."""
    template, created = JobTemplate.objects.select_for_update().get_or_create(
        workspace=workspace,
        slug=definition["slug"],
        defaults={"name": definition["name"]},
    )
    last = template.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = TemplateVersion.objects.create(
        template=template, number=last + 1, definition=definition, source=source, created_by=user
    )
    template.name = definition["name"]
    template.type = definition.get("type", "")
    template.description = definition.get("description", "")
    template.current_version = version
    template.archived_at = None
    template.updated_at = timezone.now()
    template.save(
        update_fields=[
            "name",
            "type",
            "description",
            "current_version",
            "archived_at",
            "updated_at",
        ]
    )
    return template


def trigger_enabled(definition: dict) -> bool:
    return bool(((definition.get("settings") or {}).get("trigger_url") or {}).get("enabled"))


def issue_trigger_key(template: "JobTemplate") -> str:
    """A new trigger key for `template`: the raw key, to be shown once. Only its hash is
    kept, and the previous key stops working. The settings page and the API both call
    this; raises TriggerUrlDisabled when the template does not allow triggering by URL."""
    if not trigger_enabled(template.definition):
        raise TriggerUrlDisabled(TRIGGER_URL_DISABLED)
    raw = TRIGGER_KEY_PREFIX + secrets.token_urlsafe(24)
    template.trigger_key_hash = hash_key(raw)
    template.updated_at = timezone.now()
    template.save(update_fields=["trigger_key_hash", "updated_at"])
    return raw
