"""Workspace settings for admins: members and their roles, API keys (the raw key shown
once), and the templates' trigger URLs (SPEC §9). Everything here needs the admin role,
checked on every request."""

from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs.views.permissions import (
    admin_workspace,
    member_required,
    template_for,
    templates_of,
)
from jobsite.memberships import (
    MembershipRefused,
    add_member,
    can_add_by_username,
    colleagues_of,
    invite,
)
from jobsite.models import ApiKey, Invitation, Membership, Role
from templates_app.models import TriggerUrlDisabled, issue_trigger_key

SHOWN_ONCE_KEY = "jobsite_shown_once"


SHOWN_ONCE_COOKIE = "jobsite_once"


def show_once(request, label, secret, response):
    """Keep a new secret for the very next page view only (POST → redirect → GET), so it
    is shown once and a reload does not show it again. Returns `response` (the redirect).

    The session (a row in the database) holds the secret only encrypted, with a one-off
    key that travels in a short-lived cookie of this browser alone: the session table
    never holds a raw key, and the ciphertext left there if the page is never viewed
    is useless without the cookie."""
    one_off = Fernet.generate_key()
    sealed = Fernet(one_off).encrypt(secret.encode()).decode()
    request.session[SHOWN_ONCE_KEY] = {"label": label, "sealed": sealed}
    response.set_cookie(
        SHOWN_ONCE_COOKIE, one_off.decode(), max_age=300, path="/settings/",
        secure=request.is_secure(), httponly=True, samesite="Strict",
    )  # fmt: skip
    return response


def pop_shown_once(request):
    shown = request.session.pop(SHOWN_ONCE_KEY, None)
    one_off = request.COOKIES.get(SHOWN_ONCE_COOKIE, "")
    if not shown or "sealed" not in shown or not one_off:
        return None
    try:
        secret = Fernet(one_off.encode()).decrypt(shown["sealed"].encode()).decode()
    except (InvalidToken, ValueError):
        return None
    return {"label": shown["label"], "secret": secret}


# --- members ------------------------------------------------------------------------------


@require_GET
@member_required
def settings_members(request):
    workspace = admin_workspace(request)
    members = (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__username")
    )
    context = {
        "members": members,
        "roles": Role.choices,
        "section": "members",
        "by_username": can_add_by_username(request.user),
        "colleagues": colleagues_of(request.user, workspace),
        "invitations": Invitation.objects.pending().filter(workspace=workspace),
        "shown_once": pop_shown_once(request),
    }
    return render(request, "jobs/settings_members.html", context)


def _admins_left_without(workspace, membership):
    return (
        Membership.objects.filter(workspace=workspace, role=Role.ADMIN)
        .exclude(pk=membership.pk)
        .exists()
    )


@require_POST
@member_required
def settings_member_add(request):
    """Staff add by username; a workspace admin picks from colleagues_of (jobsite.memberships)."""
    workspace = admin_workspace(request)
    try:
        membership, created = add_member(
            workspace,
            request.user,
            role=request.POST.get("role", Role.VIEWER),
            username=request.POST.get("username", "").strip(),
            user_id=request.POST.get("user"),
        )
    except MembershipRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("settings-members")
    name = membership.user.get_username()
    if created:
        messages.success(request, f"{name} is now a {membership.role} of {workspace.name}.")
    else:
        messages.info(request, f"{name} is already a member; change their role below.")
    return redirect("settings-members")


@require_POST
@member_required
def settings_member_invite(request):
    """An invitation link for an email address, shown once (docs/workspaces.md)."""
    workspace = admin_workspace(request)
    email = request.POST.get("email", "").strip()
    try:
        validate_email(email)
        invitation, raw = invite(
            workspace, request.user, email=email, role=request.POST.get("role", Role.VIEWER)
        )
    except ValidationError:
        messages.error(request, "Enter a valid email address.")
        return redirect("settings-members")
    except MembershipRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("settings-members")
    link = (
        request.build_absolute_uri(reverse("invitation-accept")) + "?" + urlencode({"token": raw})
    )
    return show_once(
        request,
        f"Invitation link for {invitation.email} ({invitation.role})",
        link,
        redirect("settings-members"),
    )


@require_POST
@member_required
def settings_invitation_cancel(request, invitation_id):
    workspace = admin_workspace(request)
    invitation = get_object_or_404(
        Invitation.objects.pending(), pk=invitation_id, workspace=workspace
    )
    invitation.delete()
    messages.success(
        request, f"The invitation for {invitation.email} was withdrawn; its link no longer works."
    )
    return redirect("settings-members")


@require_POST
@member_required
def settings_member_change(request, membership_id):
    workspace = admin_workspace(request)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, workspace=workspace
    )
    name = membership.user.get_username()
    if request.POST.get("remove"):
        if membership.role == Role.ADMIN and not _admins_left_without(workspace, membership):
            messages.error(request, "A workspace keeps at least one admin.")
        else:
            membership.delete()
            messages.success(request, f"{name} was removed from {workspace.name}.")
        return redirect("settings-members")
    role = request.POST.get("role")
    if role not in Role.values:
        messages.error(request, "Pick a role.")
    elif (
        membership.role == Role.ADMIN
        and role != Role.ADMIN
        and not _admins_left_without(workspace, membership)
    ):
        messages.error(request, "A workspace keeps at least one admin.")
    else:
        membership.role = role
        membership.save(update_fields=["role"])
        messages.success(request, f"{name} is now a {role}.")
    return redirect("settings-members")


# --- API keys -----------------------------------------------------------------------------


@require_GET
@member_required
def settings_keys(request):
    workspace = admin_workspace(request)
    keys = ApiKey.objects.filter(workspace=workspace).select_related("created_by")
    context = {
        "keys": keys,
        "roles": Role.choices,
        "shown_once": pop_shown_once(request),
        "section": "keys",
    }
    return render(request, "jobs/settings_keys.html", context)


@require_POST
@member_required
def settings_key_create(request):
    workspace = admin_workspace(request)
    name = request.POST.get("name", "").strip()[:100]
    role = request.POST.get("role", Role.OPERATOR)
    if not name or role not in Role.values:
        messages.error(request, "A key needs a name and a role.")
        return redirect("settings-keys")
    _, raw = ApiKey.issue(workspace, name, role=role, created_by=request.user)
    return show_once(request, f"API key “{name}”", raw, redirect("settings-keys"))


@require_POST
@member_required
def settings_key_revoke(request, key_id):
    workspace = admin_workspace(request)
    key = get_object_or_404(ApiKey, pk=key_id, workspace=workspace)
    key.revoke()
    messages.success(request, f"Key “{key.name}” revoked; it stops working at once.")
    return redirect("settings-keys")


# --- trigger URLs -------------------------------------------------------------------------


def trigger_url(request, workspace, template):
    return request.build_absolute_uri(
        reverse("api-hook-trigger", args=[workspace.slug, template.slug])
    )


@require_GET
@member_required
def settings_triggers(request):
    workspace = admin_workspace(request)
    rows = []
    for template in (
        templates_of(request)
        .filter(archived_at__isnull=True)
        .select_related("current_version")
        .order_by("name")
    ):
        enabled = bool(
            (template.definition.get("settings") or {}).get("trigger_url", {}).get("enabled")
        )
        rows.append(
            {
                "template": template,
                "enabled": enabled,
                "url": trigger_url(request, workspace, template),
                "has_key": bool(template.trigger_key_hash),
            }
        )
    context = {"rows": rows, "shown_once": pop_shown_once(request), "section": "triggers"}
    return render(request, "jobs/settings_triggers.html", context)


@require_POST
@member_required
def settings_trigger_key(request, slug):
    """Issue a new trigger key for a template (the old one stops working), as the API's
    `templates/{id}/trigger-key/` does: both call `issue_trigger_key`."""
    admin_workspace(request)
    template = template_for(request, slug)
    try:
        raw = issue_trigger_key(template)
    except TriggerUrlDisabled as exc:
        messages.error(request, str(exc))
        return redirect("settings-triggers")
    return show_once(
        request, f"Trigger key of “{template.name}”", raw, redirect("settings-triggers")
    )
