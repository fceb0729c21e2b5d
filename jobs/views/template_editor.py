"""The template editor (SPEC §9, admins): YAML with each problem shown at its line while
typing, a preview of the start form and the step graph, save → a new version, a diff of
any two versions, and restore.

Validation is the API's: `templates_app.definition.load_definition` with the
workspace's rules (allowed step types, limit ceilings; the same DefinitionError paths), and saving goes through `save_template_version` like the API's
POST/PUT and the admin. The preview is built by the start form's own class and the
template page's graph, so what it shows is what the template page will show.
"""

import difflib

import yaml
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.views.charts import step_graph
from jobs.views.forms import StartForm
from jobs.views.permissions import member_required, require_role, template_for, templates_of
from jobsite.models import Role
from templates_app.definition import DefinitionError, load_definition
from templates_app.definition.lines import line_of, problems_at_lines
from templates_app.models import save_template_version
from templates_app.policy import definition_rules

NEW_TEMPLATE = """slug: my-template
name: My template
description: What it does, in a sentence.
variables:
  days: {type: integer, default: 7, min: 1, max: 30, description: How far back.}
steps:
  - id: hello
    type: shell
    with:
      script: echo "looking back $VAR_DAYS days"
"""
MAX_SOURCE = 256 * 1024


def check_source(request, source, template=None):
    """(definition or None, problems at their lines). `template`: the one being edited
    (its slug cannot change); None for a new one (its slug must be free)."""
    if len(source) > MAX_SOURCE:
        return None, [
            {"path": "source", "message": f"is longer than {MAX_SOURCE} characters", "line": None}
        ]
    try:
        definition = load_definition(source, rules=definition_rules(request.tenant.workspace))
    except DefinitionError as exc:
        return None, problems_at_lines(source, exc.errors)
    except RecursionError:
        return None, [
            {"path": "source", "message": "the definition nests too deeply", "line": None}
        ]
    slug_problem = None
    if template is not None and definition["slug"] != template.slug:
        slug_problem = f"must stay '{template.slug}': a template's slug cannot change"
    elif template is None:
        existing = templates_of(request).filter(slug=definition["slug"], archived_at__isnull=True)
        if existing.exists():
            slug_problem = f"a template '{definition['slug']}' exists already: edit it instead"
    if slug_problem:
        try:
            line = line_of(yaml.compose(source, Loader=yaml.SafeLoader), "slug")
        except (yaml.YAMLError, RecursionError):
            line = None
        return None, [{"path": "slug", "message": slug_problem, "line": line}]
    return definition, []


def preview_of(definition):
    if definition is None:
        return {}
    return {
        "preview_form": StartForm(definition),
        "graph": step_graph(definition.get("steps", [])),
        "definition": definition,
    }


def editor_page(request, template, source, problems, definition, status=200):
    context = {
        "template": template,
        "source": source,
        "problems": problems,
        "checked": True,
        **preview_of(definition),
    }
    return render(request, "jobs/template_editor.html", context, status=status)


def save_and_redirect(request, workspace, definition, source):
    with transaction.atomic():
        template = save_template_version(workspace, definition, source=source, user=request.user)
    messages.success(
        request, f"Saved version {template.current_version.number} of {template.name}."
    )
    return redirect("template-detail", slug=template.slug)


@require_http_methods(["GET", "POST"])
@member_required
def template_new(request):
    require_role(request, Role.ADMIN)
    if request.method == "GET":
        definition, problems = check_source(request, NEW_TEMPLATE)
        return editor_page(request, None, NEW_TEMPLATE, problems, definition)
    source = request.POST.get("source", "")
    definition, problems = check_source(request, source)
    if problems:
        return editor_page(request, None, source, problems, None, status=400)
    return save_and_redirect(request, request.tenant.workspace, definition, source)


@require_http_methods(["GET", "POST"])
@member_required
def template_edit(request, slug):
    require_role(request, Role.ADMIN)
    template = template_for(request, slug)
    if request.method == "GET":
        version = template.current_version
        source = version.source or _as_yaml(version.definition)
        return editor_page(request, template, source, [], version.definition)
    source = request.POST.get("source", "")
    definition, problems = check_source(request, source, template)
    if problems:
        return editor_page(request, template, source, problems, None, status=400)
    return save_and_redirect(request, template.workspace, definition, source)


@require_POST
@member_required
def template_check(request):
    """The editor's check while typing (debounced by htmx): the problems at their lines,
    or the preview."""
    require_role(request, Role.ADMIN)
    template = None
    if request.POST.get("slug"):
        template = template_for(request, request.POST["slug"])
    definition, problems = check_source(request, request.POST.get("source", ""), template)
    context = {"problems": problems, "checked": True, **preview_of(definition)}
    return render(request, "jobs/template_editor.html#editor-check", context)


def _as_yaml(definition):
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)


def source_of(version):
    return version.source or _as_yaml(version.definition)


@require_GET
@member_required
def template_versions(request, slug):
    """Every version, and the diff of two of them (`?a=&b=`, default: the previous and
    the current one)."""
    require_role(request, Role.ADMIN)
    template = template_for(request, slug)
    versions = list(template.versions.select_related("created_by").order_by("-number"))
    numbers = {version.number: version for version in versions}
    current = template.current_version.number

    def pick(name, default):
        try:
            return numbers[int(request.GET[name])]
        except (KeyError, ValueError):
            return numbers.get(default)

    newer = pick("b", current)
    older = pick("a", current - 1 if current > 1 else current)
    diff = []
    if older and newer:
        lines = difflib.unified_diff(
            source_of(older).splitlines(),
            source_of(newer).splitlines(),
            f"v{older.number}",
            f"v{newer.number}",
            lineterm="",
        )
        for line in lines:
            kind = (
                "meta"
                if line.startswith(("---", "+++", "@@"))
                else {"+": "add", "-": "del"}.get(line[:1], "same")
            )
            diff.append({"kind": kind, "text": line})
    context = {
        "template": template,
        "versions": versions,
        "older": older,
        "newer": newer,
        "diff": diff,
        "current": current,
    }
    return render(request, "jobs/template_versions.html", context)


@require_POST
@member_required
def template_restore(request, slug, number):
    """Restore an old version: its source saved again as a new version (history is never
    rewritten)."""
    require_role(request, Role.ADMIN)
    template = template_for(request, slug)
    version = get_object_or_404(template.versions, number=number)
    source = source_of(version)
    definition, problems = check_source(request, source, template)
    if problems:
        # The definition language may have tightened since: say what no longer passes.
        messages.error(
            request,
            f"Version {number} no longer validates: "
            + "; ".join(f"{problem['path']}: {problem['message']}" for problem in problems),
        )
        return redirect("template-versions", slug=slug)
    with transaction.atomic():
        template = save_template_version(
            template.workspace, definition, source=source, user=request.user
        )
    messages.success(
        request, f"Version {number} restored as version {template.current_version.number}."
    )
    return redirect("template-versions", slug=slug)
