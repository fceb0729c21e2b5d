"""Who is asking, in which workspace, and may they: the pages' one permission helper.

Every page view is wrapped in `member_required` (jobsite.tenancy), which resolves the
user's current workspace once (from the session, falling back to their first
membership) and puts the `Tenant` on `request.tenant`. Objects are then fetched only
through the helpers below, which return an object of that workspace or raise Http404 —
the same 404 for an object of another workspace as for one that does not exist.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404

from jobs.models import Job
from jobsite.models import Role
from jobsite.tenancy import member_required
from templates_app.models import JobTemplate

__all__ = ["member_required", "require_role", "jobs_of", "templates_of", "job_for", "template_for"]


def require_role(request, role):
    """Refuse (403) an action the user's role does not allow. Pages hide such buttons
    already; this is the server's own check."""
    if not request.tenant.can(role):
        raise PermissionDenied(
            f"This needs the {Role(role).label.lower()} role in {request.tenant.workspace.name}."
        )


def admin_workspace(request):
    """The request's workspace, for a page only its admins may use (403 otherwise)."""
    require_role(request, Role.ADMIN)
    return request.tenant.workspace


def jobs_of(request):
    return Job.objects.filter(workspace=request.tenant.workspace)


def templates_of(request):
    return JobTemplate.objects.filter(
        workspace=request.tenant.workspace, current_version__isnull=False
    )


def choosable_templates(request, keep=None):
    """The templates a schedule may run or a webhook endpoint be limited to: this
    workspace's live ones, and `keep` (the object's own template id) even if archived
    since, so saving the object unchanged stays possible."""
    live = Q(archived_at__isnull=True)
    if keep:
        live |= Q(pk=keep)
    return templates_of(request).filter(live).select_related("current_version").order_by("name")


def form_data(request):
    """The POST data for a bound form, or None on GET. Not `request.POST or None`: an
    empty POST must be a bound form that shows its errors."""
    return request.POST if request.method == "POST" else None


def job_for(request, job_id):
    return get_object_or_404(jobs_of(request).select_related("template", "original_job"), pk=job_id)


def template_for(request, slug):
    return get_object_or_404(
        templates_of(request).select_related("current_version"), slug=slug, archived_at__isnull=True
    )
