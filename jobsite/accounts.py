"""Logging in and changing one's password (SPEC §9, §15).

`ThrottledLoginView` is Django's LoginView with the login throttle in front: a client
that failed too often for a username is answered 429 (with Retry-After) before the
password is hashed, so `/login/` cannot be used to burn CPU or to guess on.
`PasswordChangeView` is Django's, in the site's layout, linked from the top bar.
"""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from jobsite.api.throttling import LoginFailures


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        failures = LoginFailures(request, request.POST.get("username", ""))
        if wait := failures.seconds_refused():
            minutes = max(1, round(wait / 60))
            # An unbound form: a bound one would check the password to show its errors.
            form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
            refusal = (
                f"Too many failed logins for this username from your address. Try again in about "
                f"{minutes} minute{'s' if minutes != 1 else ''}."
            )
            response = self.render_to_response(self.get_context_data(form=form, refusal=refusal), status=429)
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
