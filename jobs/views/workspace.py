"""The workspace switcher in the page header."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from jobs.views.permissions import member_required
from jobsite.tenancy import SESSION_KEY, tenant_for_user


@require_POST
@member_required
def workspace_switch(request):
    tenant = tenant_for_user(request.user, slug=request.POST.get("workspace", ""))
    if tenant is None:
        messages.error(request, "You are not a member of that workspace.")
    else:
        request.session[SESSION_KEY] = str(tenant.workspace.pk)
        messages.success(request, f"Now in {tenant.workspace.name} (as {tenant.role}).")
    # Back to the same kind of page, but never to an object of the old workspace.
    target = request.POST.get("next", "")
    if (
        not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
        or "/jobs/" in target
    ):
        target = "dashboard"
    if "/templates/" in target:
        target = "template-list"
    return redirect(target)
