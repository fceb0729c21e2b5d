"""Who a workspace admin can add (issue 12 item 8; docs/workspaces.md): no probing for
usernames, no pulling in other tenants' users. Staff add by username; admins pick from
people who already share a workspace with them, or invite by email."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from jobsite.models import Invitation, Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def make_user(username, **extra):
    return get_user_model().objects.create_user(
        username, f"{username}@example.invalid", "pw-" + username, **extra
    )


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_workspace_admin_cannot_add_another_tenants_user_or_tell_whether_a_username_exists(
    admin_user, workspace, other_workspace
):
    outsider = make_user("olga-outsider")
    Membership.objects.create(workspace=other_workspace, user=outsider, role=Role.ADMIN)
    admin = logged_in(admin_user)
    existing = admin.post(
        "/settings/members/add/", {"username": "olga-outsider", "role": "admin"}, follow=True
    )
    missing = admin.post(
        "/settings/members/add/", {"username": "nobody-by-that-name", "role": "admin"}, follow=True
    )
    assert not Membership.objects.filter(workspace=workspace, user=outsider).exists()
    messages = [
        re.findall(r'class="message[^"]*">([^<]*)<', r.content.decode())
        for r in (existing, missing)
    ]
    assert messages[0] == messages[1] == ["Pick someone from the list, or invite them by email."]
    assert "olga-outsider" not in admin.get("/settings/members/").content.decode()
    # Nor by guessing a user id.
    admin.post("/settings/members/add/", {"user": str(outsider.pk), "role": "viewer"})
    assert not Membership.objects.filter(workspace=workspace, user=outsider).exists()


def test_an_admin_adds_someone_who_shares_another_workspace_with_them(
    admin_user, workspace, other_workspace
):
    shared = Workspace.objects.create(slug="shared", name="Shared")
    Membership.objects.create(workspace=shared, user=admin_user, role=Role.VIEWER)
    colleague = make_user("cora-colleague")
    Membership.objects.create(workspace=shared, user=colleague, role=Role.VIEWER)
    stranger = make_user("sam-stranger")
    Membership.objects.create(workspace=other_workspace, user=stranger, role=Role.VIEWER)
    admin = logged_in(admin_user)
    page = admin.get("/settings/members/").content.decode()
    assert "cora-colleague" in page and "sam-stranger" not in page
    assert 'name="username"' not in page
    admin.post("/settings/members/add/", {"user": str(colleague.pk), "role": "operator"})
    assert Membership.objects.get(workspace=workspace, user=colleague).role == Role.OPERATOR


def test_staff_add_any_existing_user_by_username(workspace, admin_user):
    staff = make_user("stella-staff", is_staff=True)
    Membership.objects.create(workspace=workspace, user=staff, role=Role.ADMIN)
    newcomer = make_user("nina-new")
    client = logged_in(staff)
    assert 'name="username"' in client.get("/settings/members/").content.decode()
    client.post("/settings/members/add/", {"username": "nina-new", "role": "viewer"})
    assert Membership.objects.get(workspace=workspace, user=newcomer).role == Role.VIEWER


def invitation_link(admin, email="newcomer@example.com", role="operator"):
    response = admin.post("/settings/members/invite/", {"email": email, "role": role}, follow=True)
    return re.search(
        r'value="(http://testserver/invitations/accept/\?token=jinv_[^"]+)"',
        response.content.decode(),
    ).group(1)


def test_an_invitation_link_is_shown_once_and_creates_an_account_that_joins(admin_user, workspace):
    admin = logged_in(admin_user)
    link = invitation_link(admin)
    assert link.split("token=")[1] not in admin.get("/settings/members/").content.decode()
    assert "newcomer@example.com" in admin.get("/settings/members/").content.decode()  # pending
    path = link.removeprefix("http://testserver")
    newcomer = Client()
    assert newcomer.get(path).status_code == 200
    joined = newcomer.post(
        path,
        {
            "username": "newcomer",
            "password1": "a long new passphrase",
            "password2": "a long new passphrase",
        },
        follow=True,
    )
    assert joined.redirect_chain[-1][0] == "/"
    user = get_user_model().objects.get(username="newcomer")
    assert user.email == "newcomer@example.com"
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.OPERATOR
    # Used up: the same 404 as a made-up token.
    assert Client().get(path).status_code == 404
    assert Client().get("/invitations/accept/?token=jinv_made-up").status_code == 404


def test_a_logged_in_user_accepts_an_invitation_with_one_button(
    admin_user, workspace, other_workspace
):
    existing = make_user("eve-existing")
    Membership.objects.create(workspace=other_workspace, user=existing, role=Role.ADMIN)
    path = invitation_link(
        logged_in(admin_user), email="eve@example.com", role="viewer"
    ).removeprefix("http://testserver")
    client = logged_in(existing)
    assert "Join Acme" in client.get(path).content.decode()
    client.post(path)
    assert Membership.objects.get(workspace=workspace, user=existing).role == Role.VIEWER


def test_expired_and_withdrawn_invitations_do_not_work(admin_user, workspace):
    admin = logged_in(admin_user)
    expired_path = invitation_link(admin, email="late@example.com").removeprefix(
        "http://testserver"
    )
    Invitation.objects.filter(email="late@example.com").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(expired_path).status_code == 404
    withdrawn_path = invitation_link(admin, email="nope@example.com").removeprefix(
        "http://testserver"
    )
    invitation = Invitation.objects.get(email="nope@example.com")
    admin.post(f"/settings/invitations/{invitation.pk}/cancel/")
    response = Client().post(
        withdrawn_path,
        {
            "username": "nope",
            "password1": "a long new passphrase",
            "password2": "a long new passphrase",
        },
    )
    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="nope").exists()


def test_only_admins_invite(operator_user, workspace):
    assert (
        logged_in(operator_user)
        .post("/settings/members/invite/", {"email": "x@example.com", "role": "admin"})
        .status_code
        == 403
    )
    assert not Invitation.objects.exists()
