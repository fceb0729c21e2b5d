"""Logging in and changing one's password (SPEC §9, §15).

`ThrottledLoginView` is Django's LoginView with the login throttle in front: a client
that failed too often for a username is answered 429 (with Retry-After) before the
password is hashed, so `/login/` cannot be used to burn CPU or to guess on.
`PasswordChangeView` is Django's, in the site's layout, linked from the top bar.
`invitation_accept` is where a workspace invitation link leads (docs/workspaces.md).
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from jobsite.api.throttling import LoginFailures
from jobsite.memberships import accept_invitation
from jobsite.models import Invitation
from jobsite.tenancy import SESSION_KEY


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        failures = LoginFailures(request, request.POST.get("username", ""))
        if wait := failures.seconds_refused():
            minutes = max(1, round(wait / 60))
            # An unbound form: a bound one would check the password to show its errors.
            form = self.get_form_class()(
                request, initial={"username": request.POST.get("username", "")}
            )
            refusal = (
                f"Too many failed logins for this username from your address. Try again in about "
                f"{minutes} minute{'s' if minutes != 1 else ''}."
            )
            response = self.render_to_response(
                self.get_context_data(form=form, refusal=refusal), status=429
            )
            response["Retry-After"] = str(wait)
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            failures.clear()
        else:
            failures.count()
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view (old password, new one twice, the password validators; the session
    stays logged in), back to the dashboard with a message."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response


# --- accepting an invitation -------------------------------------------------------------


class NewAccountForm(UserCreationForm):
    """Django's sign-up form (username, password twice, the password validators)."""


@require_http_methods(["GET", "POST"])
def invitation_accept(request):
    """`/invitations/accept/?token=jinv_…` (in the query string, which the access log
    redacts). A logged-in user accepts with one button; anyone else logs in first (the
    login page comes back here) or creates an account here. Used, expired, withdrawn and
    unknown tokens all get the same 404."""
    raw = request.GET.get("token", "")
    invitation = Invitation.find_pending(raw)
    if invitation is None:
        return render(request, "registration/invitation.html", {"invalid": True}, status=404)
    form = NewAccountForm()
    if request.method == "POST":
        if request.user.is_authenticated:
            user = request.user
        else:
            form = NewAccountForm(request.POST)
            if not form.is_valid():
                return render(
                    request,
                    "registration/invitation.html",
                    {"invitation": invitation, "form": form},
                    status=400,
                )
            user = form.save(commit=False)
            user.email = invitation.email
            user.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        membership = accept_invitation(invitation, user)
        if membership is None:
            return render(request, "registration/invitation.html", {"invalid": True}, status=404)
        request.session[SESSION_KEY] = str(membership.workspace_id)
        messages.success(
            request, f"You are now a {membership.role} of {membership.workspace.name}."
        )
        return redirect("dashboard")
    login_url = f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}"
    return render(
        request,
        "registration/invitation.html",
        {"invitation": invitation, "form": form, "login_url": login_url},
    )
