"""Tenancy: workspaces, who belongs to them, and the API keys that act for them."""

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# A leaf of jobs (Django only, like jobs/executors/): the named statements.
from jobsite.named_sql import fetch, model_from_row


class Role(models.TextChoices):
    # Reads everything in the workspace, changes nothing.
    VIEWER = "viewer", "Viewer"
    # Also starts, cancels and reruns jobs.
    OPERATOR = "operator", "Operator"
    # Also manages templates, keys, webhooks, schedules and members.
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def role_at_least(role, required):
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[required]


class StepNetwork(models.TextChoices):
    # The sandbox shares the host's network (DNS, the internet, and 127.0.0.1 too).
    HOST = "host", "Host network"
    # The sandbox has its own empty network namespace: no connection leaves the step.
    NONE = "none", "No network"


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Delete finished jobs older than this many days (empty: keep forever).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Step containment (SPEC §13, docs/security.md). Staff only: set in the Django admin,
    # never in the workspace's own settings pages or API.
    default_pool = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text='Worker pool for this workspace\'s steps when neither the step nor its template says runs_on (empty: "default"). Staff only.',
    )
    step_network = models.CharField(
        max_length=8,
        choices=StepNetwork.choices,
        default=StepNetwork.HOST,
        help_text="What the sandbox of this workspace's shell steps may reach: the host's network, or none.",
    )
    allowed_step_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Step types this workspace\'s templates may use, e.g. ["shell", "http"]; empty: all.',
    )
    cpu_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per step: CPU seconds (default and ceiling; empty: the server default).",
    )
    memory_mb = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per step: memory in MB (default and ceiling; empty: the server default).",
    )
    max_file_mb = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per step: largest file in MB (default and ceiling; empty: the server default).",
    )
    max_processes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per step: processes (default and ceiling; empty: the server default).",
    )
    max_artifacts_mb = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Per job: artifacts in MB (default and ceiling; empty: the server default).",
    )
    storage_quota_mb = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Stored artifacts and uploads of the whole workspace, in MB (empty: no quota).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({self.role})"


KEY_PREFIX = "jsk_"
VISIBLE_PREFIX_LENGTH = 12  # "jsk_" + 8 characters: enough to tell keys apart in a list


def hash_key(raw_key):
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_is_active(revoked_at, expires_at):
    """Not revoked and not expired, now (ApiKey.is_active, also for keys read as columns)."""
    return revoked_at is None and (expires_at is None or expires_at > timezone.now())


# The columns of a key a request needs, as the named statements of jobsite/queries.sql read
# them (`api_key.name AS key_name`, …): ApiKey.find's and jobs/api/lean_reads.py's.
KEY_COLUMNS = (
    "id",
    "workspace_id",
    "name",
    "role",
    "key_hash",
    "expires_at",
    "revoked_at",
    "last_used_at",
)


def key_from_row(row: dict) -> "ApiKey":
    """The key in the `key_<column>` columns of `row` (its other fields deferred)."""
    return model_from_row(ApiKey, {name: row[f"key_{name}"] for name in KEY_COLUMNS}, KEY_COLUMNS)


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    """A workspace's API key. The raw key is shown once at creation; only its SHA-256 and
    a short visible prefix are stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    prefix = models.CharField(max_length=VISIBLE_PREFIX_LENGTH, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, workspace, name, role=Role.OPERATOR, expires_at=None, created_by=None):
        """Create a key and return (key, raw_key). The raw key is not stored anywhere."""
        raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            workspace=workspace,
            name=name,
            role=role,
            prefix=raw_key[:VISIBLE_PREFIX_LENGTH],
            key_hash=hash_key(raw_key),
            expires_at=expires_at,
            created_by=created_by,
        )
        return key, raw_key

    @classmethod
    def find(cls, raw_key):
        """The usable key matching raw_key (with its workspace), or None. The lookup is
        by hash; the final comparison is constant-time so timing tells nothing about near
        misses."""
        if not raw_key or not raw_key.startswith(KEY_PREFIX):
            return None
        digest = hash_key(raw_key)
        # One named statement by the unique hash (this runs on every API request: built
        # through the ORM it was a sixth of a POST jobs/'s CPU, docs/benchmarks.md round
        # 4b), checked for revocation and expiry here rather than in SQL.
        rows = fetch("api_key", cls, key_hash=digest)
        if not rows:
            return None
        key = key_from_row(rows[0])
        key.workspace = model_from_row(Workspace, rows[0])
        if not key.is_active or not hmac.compare_digest(key.key_hash, digest):
            return None
        return key

    @property
    def is_active(self):
        return key_is_active(self.revoked_at, self.expires_at)

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


INVITATION_PREFIX = "jinv_"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An invitation to join a workspace with a role, made by one of its admins for an
    email address (docs/workspaces.md). The link carries a random token, shown once to
    the admin who made it; only the token's SHA-256 is stored. Whoever opens the link
    while it is pending may accept it, once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} to {self.workspace} ({self.role})"

    @classmethod
    def issue(cls, workspace, email, role, created_by=None):
        """Create an invitation and return (invitation, raw token)."""
        raw = INVITATION_PREFIX + secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            workspace=workspace,
            email=email,
            role=role,
            token_hash=hash_key(raw),
            created_by=created_by,
            expires_at=timezone.now() + timedelta(days=settings.JOBSITE_INVITATION_DAYS),
        )
        return invitation, raw

    @classmethod
    def find_pending(cls, raw):
        """The pending invitation of this token, or None (used, expired or unknown alike)."""
        if not raw or not isinstance(raw, str) or not raw.startswith(INVITATION_PREFIX):
            return None
        return (
            cls.objects.pending()
            .select_related("workspace")
            .filter(token_hash=hash_key(raw))
            .first()
        )
