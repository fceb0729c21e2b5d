"""The templates list. A template's own page shows its recent runs too, so it lives in
jobs/views/start.py — templates_app knows nothing about jobs."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobsite.tenancy import member_required
from templates_app.models import JobTemplate


@require_GET
@member_required
def template_list(request):
    templates = (
        JobTemplate.objects.filter(
            workspace=request.tenant.workspace,
            archived_at__isnull=True,
            current_version__isnull=False,
        )
        .select_related("current_version")
        .order_by("name")
    )
    query = request.GET.get("q", "").strip()[:200]
    if query:
        templates = templates.filter(name__icontains=query) | templates.filter(
            slug__icontains=query
        )
    rows = []
    for template in templates:
        definition = template.current_version.definition
        rows.append(
            {
                "template": template,
                "version": template.current_version.number,
                "variables": list(definition.get("variables", {})),
                "steps": len(definition.get("steps", [])),
            }
        )
    return render(request, "templates_app/template_list.html", {"rows": rows, "query": query})
