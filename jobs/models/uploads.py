"""Files sent to the API (SPEC §6.2 `uploads/`) for a job to use: a `file` variable names
one by its id, and the job gets it as an input artifact (docs/api.md, "Uploads")."""

import uuid

from django.db import models
from django.utils import timezone

from jobsite.models import Workspace


def upload_to(instance, filename):
    return f"uploads/{instance.workspace_id}/{instance.pk}/{filename}"


class UploadQuerySet(models.QuerySet):
    def usable(self, now=None):
        return self.filter(expires_at__gt=now or timezone.now())


class Upload(models.Model):
    """One uploaded file. Usable by any number of jobs of its workspace until it expires;
    a job that used it keeps the file (its input artifact shares the stored file)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="uploads")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to=upload_to, max_length=500)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = UploadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="upload_ws_created")]

    def __str__(self):
        return self.name
