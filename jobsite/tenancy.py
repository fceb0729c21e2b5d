"""Which workspace a request acts in, and with which role — resolved once per request,
the same way for the API and the pages (SPEC §6.1)."""

import uuid
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from jobsite.models import Membership, Role, Workspace, role_at_least

SESSION_KEY = "jobsite_workspace_id"


@dataclass(frozen=True)
class Tenant:
    workspace: Workspace
    role: str
    actor: str  # "user:alice" or "key:ci-bot" — recorded as a job's created_by

    def can(self, required_role):
        return role_at_least(self.role, required_role)

    @property
    def can_operate(self):
        return self.can(Role.OPERATOR)

    @property
    def is_admin(self):
        return self.can(Role.ADMIN)


def memberships_of(user):
    return (
        Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    )


def tenant_for_user(user, *, slug=None, workspace_id=None):
    """The user's tenant in the named workspace, or in their only workspace when none is
    named. None when the user is not a member (or names nothing and has several)."""
    memberships = memberships_of(user)
    if slug:
        memberships = memberships.filter(workspace__slug=slug)
    elif workspace_id:
        try:
            memberships = memberships.filter(workspace_id=uuid.UUID(str(workspace_id)))
        except ValueError:
            return None
    found = list(memberships[:2])
    if len(found) != 1:
        return None
    membership = found[0]
    return Tenant(membership.workspace, membership.role, f"user:{user.get_username()}")


def tenant_for_key(api_key):
    return Tenant(api_key.workspace, api_key.role, f"key:{api_key.name}")


# --- the pages: the workspace a logged-in user acts in ---------------------------------


def tenant_for_session(request):
    """The Tenant of a logged-in user on the web pages: the workspace chosen with the
    switcher (kept in the session) while they are still a member of it, else their first
    workspace by name (then remembered). None for a user without any workspace."""
    chosen = request.session.get(SESSION_KEY)
    tenant = tenant_for_user(request.user, workspace_id=chosen) if chosen else None
    if tenant is None:
        membership = memberships_of(request.user).first()
        if membership is None:
            request.session.pop(SESSION_KEY, None)
            return None
        tenant = Tenant(
            membership.workspace, membership.role, f"user:{request.user.get_username()}"
        )
        request.session[SESSION_KEY] = str(membership.workspace_id)
    return tenant


def member_required(view):
    """For page views: log in first, then put the user's Tenant on `request.tenant`. A
    user who belongs to no workspace gets a page saying so instead of empty pages."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated and getattr(request, "htmx", False):
            # A poll after the session ended: send the whole page to the login form
            # (following the redirect would swap the login page into the log).
            page = request.htmx.current_url_abs_path or "/"
            return HttpResponseClientRedirect(redirect_to_login(page)["Location"])
        return logged_in_view(request, *args, **kwargs)

    @login_required
    def logged_in_view(request, *args, **kwargs):
        request.tenant = tenant_for_session(request)
        if request.tenant is None:
            return render(request, "no_workspace.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
