"""What the settings pages share: a form page that answers 400 when its post did not
validate, and the confirm-then-delete page (it works without JavaScript)."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def form_page(request: HttpRequest, template_name: str, form, **context) -> HttpResponse:
    """The add/edit page of `form`; 400 when a post did not validate, so a client (and a
    test) sees the refusal without reading the page."""
    status = 400 if form.is_bound and form.errors else 200
    return render(request, template_name, {"form": form, **context}, status=status)


def confirm_delete(
    request: HttpRequest,
    *,
    delete: Callable[[], str],
    done_url: str,
    section: str,
    title: str,
    subject: str,
    consequence: str,
    back_url: str,
) -> HttpResponse:
    """GET: a page asking to confirm. POST: `delete()`, which deletes and returns the
    message to show, then back to `done_url` (a URL name)."""
    if request.method == "POST":
        messages.success(request, delete())
        return redirect(done_url)
    context = {
        "section": section,
        "title": title,
        "subject": subject,
        "consequence": consequence,
        "back_url": back_url,
    }
    return render(request, "jobs/settings_confirm_delete.html", context)
