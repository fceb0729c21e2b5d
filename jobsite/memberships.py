"""Who may join a workspace, and how (docs/workspaces.md).

Staff add any existing user by username: they administer the installation and may know
who is on it. A workspace admin cannot look users up by name — that would let them probe
which usernames exist and pull other tenants' users into their workspace. They either
pick someone who already shares a workspace with them, or invite by email: a link with a
one-time token, accepted by a logged-in user or by someone who creates an account with
it. The settings page (jobs.views.settings_pages) and the invitation page
(jobsite.accounts) call these verbs.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from jobsite.models import Invitation, Membership, Role, Workspace

NOT_A_COLLEAGUE = "Pick someone from the list, or invite them by email."


class MembershipRefused(Exception):
    """Why a member cannot be added, in a sentence for the admin."""


def colleagues_of(user, workspace: Workspace):
    """Users who share at least one workspace with `user` and are not in `workspace` yet:
    the people a workspace admin may add directly, by name."""
    shared = Membership.objects.filter(user=user).values("workspace_id")
    return (
        get_user_model()
        .objects.filter(is_active=True, memberships__workspace_id__in=shared)
        .exclude(memberships__workspace=workspace)
        .distinct()
        .order_by("username")
    )


def can_add_by_username(user) -> bool:
    return bool(user.is_staff or user.is_superuser)


def add_member(
    workspace: Workspace, actor, *, role: str, username: str = "", user_id=None
) -> tuple[Membership, bool]:
    """Add a user to `workspace` with `role`, on `actor`'s behalf: staff by username (or
    from the list), admins only someone from colleagues_of(actor). Returns (membership,
    created); an existing member keeps their role. Raises MembershipRefused — for a
    non-staff admin the same sentence whether the user exists or not."""
    if role not in Role.values:
        raise MembershipRefused("Pick a role.")
    User = get_user_model()
    if username and can_add_by_username(actor):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise MembershipRefused(
                f"No user named “{username}”. Users are created in the Django admin."
            )
    else:
        candidates = (
            User.objects.all() if can_add_by_username(actor) else colleagues_of(actor, workspace)
        )
        try:
            user = candidates.filter(pk=int(user_id)).first() if user_id not in (None, "") else None
        except (TypeError, ValueError):
            user = None
        if user is None:
            raise MembershipRefused(NOT_A_COLLEAGUE)
    return Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": role})


def invite(workspace: Workspace, actor, *, email: str, role: str) -> tuple[Invitation, str]:
    """A new invitation and its raw token (to be shown once, as a link)."""
    if role not in Role.values:
        raise MembershipRefused("Pick a role.")
    return Invitation.issue(workspace, email.strip(), role, created_by=actor)


@transaction.atomic
def accept_invitation(invitation: Invitation, user) -> Membership | None:
    """Make `user` a member with the invitation's role (an existing member keeps the role
    they have) and use the invitation up. None when someone else used it first."""
    used = (
        Invitation.objects.pending()
        .filter(pk=invitation.pk)
        .update(accepted_at=timezone.now(), accepted_by=user)
    )
    if not used:
        return None
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    return membership
