"""Who is calling the API and in which workspace (SPEC §6.1).

- `ApiKeyAuthentication` reads `Authorization: Bearer jsk_…` or `X-API-Key: jsk_…`. No
  header: it steps aside (None); a wrong, expired or revoked key: 401 with
  `WWW-Authenticate: Bearer`. A client that keeps sending wrong keys gets 429 for them
  (jobsite.api.throttling); a valid key is never refused for what others sent.
- `SessionAuthentication` is DRF's (with its CSRF check) for the browsable API and the
  UI's own calls.
- `WorkspaceRole` resolves the tenant once per request (`request.tenant`) from the key, or
  from the session user and the `X-Workspace-Slug` / `X-Workspace-Id` headers, and checks
  the role the view asks for the request's method.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from jobsite.api.errors import WorkspaceRequired
from jobsite.api.throttling import refuse_wrong_key
from jobsite.models import KEY_PREFIX, ApiKey, Membership, Role
from jobsite.tenancy import SESSION_KEY, Tenant, tenant_for_key, tenant_for_user


def touch_last_used(key: ApiKey) -> None:
    """Record that the key was used, writing at most once per JOBSITE_API_KEY_TOUCH_SECONDS
    (a busy key must not turn every read into a write)."""
    now = timezone.now()
    horizon = now - timedelta(seconds=settings.JOBSITE_API_KEY_TOUCH_SECONDS)
    if key.last_used_at and key.last_used_at > horizon:
        return
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=horizon)
    ).update(last_used_at=now)
    key.last_used_at = now


class ApiKeyUser:
    """What `request.user` is when a key authenticated the request."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, api_key):
        self.api_key = api_key
        self.username = f"key:{api_key.name}"

    def get_username(self):
        return self.username

    def __str__(self):
        return self.username


class ConflictingKeys(exceptions.APIException):
    status_code = 400
    default_detail = (
        "Authorization: Bearer and X-API-Key carry two different API keys; send one key "
        "(or the same key in both)."
    )
    default_code = "conflicting_keys"


def presented_key(request):
    """The raw key the request carries, "" for an empty one, None when it carries none.

    A client may send both headers (seed 002's does: a gateway's `Bearer` token beside our
    `X-API-Key`). Then a header holding one of our keys (`jsk_…`) wins over one that does
    not, and two different keys of ours are refused (ConflictingKeys, 400) rather than one
    of them silently chosen."""
    bearer = None
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            bearer = credentials.strip()
    api_key = request.META.get("HTTP_X_API_KEY")
    api_key = api_key.strip() if api_key is not None else None
    if bearer is None or api_key is None:
        return bearer if bearer is not None else api_key
    ours = [raw for raw in (bearer, api_key) if raw.startswith(KEY_PREFIX)]
    if len(ours) == 2 and bearer != api_key:
        raise ConflictingKeys()
    return ours[0] if ours else bearer


BAD_KEY = "Invalid, expired or revoked API key."


def check_api_key(key: ApiKey | None) -> ApiKey:
    """The one check of the API key a request presents, for every door that takes one
    (ApiKeyAuthentication below, jobs/api/lean_reads.py): `key` is the key stored under
    the presented key's hash, or None. 401 unless it is active now (a revoked or expired
    key stops working at the very next request: nothing about keys is cached); records
    the key's use."""
    if key is None or not key.is_active:
        raise exceptions.AuthenticationFailed(BAD_KEY)
    touch_last_used(key)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = presented_key(request)
        if raw is None:
            return None
        try:
            key = check_api_key(ApiKey.find(raw))
        except exceptions.AuthenticationFailed as refusal:
            refuse_wrong_key(request, raw, refusal)
        return ApiKeyUser(key), key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="jobsite"'


def workspace_headers_agree(request, workspace_id, workspace_slug):
    """True when the request names no workspace, or names exactly this one (by slug, id or
    both) — what resolve_tenant accepts for a key of that workspace."""
    slug = request.META.get("HTTP_X_WORKSPACE_SLUG")
    named_id = request.META.get("HTTP_X_WORKSPACE_ID")
    if slug is not None and slug.strip() != workspace_slug:
        return False
    return named_id is None or _same_uuid(named_id.strip(), workspace_id)


def tenant_for_api_key(request, key: ApiKey) -> Tenant:
    """The one tenant resolution of a request authenticated by an API key, for every door
    (resolve_tenant below, jobs/api/lean_reads.py): the key's workspace and role; 403
    when the workspace headers name another workspace (or are sent empty)."""
    _named_workspace(request)
    if not workspace_headers_agree(request, key.workspace_id, key.workspace.slug):
        raise exceptions.PermissionDenied(FORBIDDEN_WORKSPACE)
    return tenant_for_key(key)


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (with its CSRF check on unsafe methods)."""


FORBIDDEN_WORKSPACE = "You have no access to that workspace."


def _named_workspace(request):
    """(slug, id) from the headers: None when absent. A header sent empty names no
    workspace at all, which is never the caller's: it is refused like any other."""
    slug = request.META.get("HTTP_X_WORKSPACE_SLUG")
    workspace_id = request.META.get("HTTP_X_WORKSPACE_ID")
    if (slug is not None and not slug.strip()) or (
        workspace_id is not None and not workspace_id.strip()
    ):
        raise exceptions.PermissionDenied(FORBIDDEN_WORKSPACE)
    return (slug or "").strip(), (workspace_id or "").strip()


def _same_uuid(value, expected):
    try:
        return uuid.UUID(value) == expected
    except ValueError:
        return False


def resolve_tenant(request):
    """The caller's Tenant, or an exception: 403 for a workspace that is not theirs (the
    same answer whether or not it exists), 400 when a user in several workspaces names
    none."""
    if isinstance(request.auth, ApiKey):
        return tenant_for_api_key(request, request.auth)
    slug, workspace_id = _named_workspace(request)
    user = request.user
    if slug or workspace_id:
        tenant = tenant_for_user(
            user, slug=slug or None, workspace_id=None if slug else workspace_id
        )
        if tenant is None or (workspace_id and not _same_uuid(workspace_id, tenant.workspace.pk)):
            raise exceptions.PermissionDenied(FORBIDDEN_WORKSPACE)
        return tenant
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    tenant = (chosen and tenant_for_user(user, workspace_id=chosen)) or tenant_for_user(user)
    if tenant is not None:
        return tenant
    if Membership.objects.filter(user=user).exists():
        raise WorkspaceRequired()
    raise exceptions.PermissionDenied("You are not a member of any workspace.")


READ_METHODS = ("GET", "HEAD", "OPTIONS")


class WorkspaceRole(permissions.BasePermission):
    """Authenticated, in a resolved workspace, with the role the view asks for this
    method: `view.required_roles` maps methods to roles; reads default to viewer,
    everything else to admin."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        request.tenant = resolve_tenant(request)
        check_role(request.tenant, view, request.method)
        return True


def check_role(tenant: Tenant, view, method: str) -> None:
    """403 unless the tenant's role is the one `view` asks for `method`: `view.required_roles`
    maps methods to roles; reads default to viewer, everything else to admin."""
    roles = getattr(view, "required_roles", {})
    required = roles.get(method) or (Role.VIEWER if method in READ_METHODS else Role.ADMIN)
    if not tenant.can(required):
        raise exceptions.PermissionDenied(
            f"This needs the {required} role; yours is {tenant.role}."
        )
