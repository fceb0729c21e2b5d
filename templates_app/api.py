"""templates/ — list and read templates, their variable schema, a dry run of a job's
input; admins create, update (a new version each time), archive and issue trigger keys.

A template is named by its id or its slug everywhere."""

import uuid

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from jobsite.api.auth import ApiKeyUser
from jobsite.api.errors import Conflict, error_responses, not_found, response_headers
from jobsite.api.fields import QuerySerializer
from jobsite.api.parsers import LimitedJSONParser, TextYamlParser, YamlTextParser
from jobsite.api.views import WorkspaceAPIView, require_no_body
from jobsite.models import Role

# A leaf of jobs (Django only, like jobs/executors/): the named statements.
from jobsite.named_sql import db_value, fetch, model_from_row
from jobsite.secrets import masked_values
from templates_app.definition import (
    DefinitionError,
    check_job_input,
    json_schema,
    load_definition,
    params_json_schema,
)
from templates_app.models import (
    JobTemplate,
    TemplateVersion,
    TriggerUrlDisabled,
    issue_trigger_key,
    save_template_version,
)
from templates_app.policy import definition_rules
from templates_app.serializers import (
    TemplateListSerializer,
    TemplateSchemaSerializer,
    TemplateSerializer,
    TemplateSummarySerializer,
    TemplateValidateSerializer,
    TemplateValidationSerializer,
    TemplateWriteSerializer,
    TriggerKeySerializer,
)

TEMPLATE_ID = JobTemplate._meta.pk
WORKSPACE_ID = JobTemplate._meta.get_field("workspace").target_field
VERSION_COLUMNS = tuple(field.attname for field in TemplateVersion._meta.concrete_fields)

TEMPLATE_REF = OpenApiParameter(
    "template_ref",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The template's id or slug.",
)


def find_template(workspace, ref):
    """The template of `workspace` with this id or slug (archived ones included), or None,
    with its current version."""
    # One named statement: every POST jobs/ starts here, and the same read built through
    # the ORM cost a fifth of the request's CPU (docs/benchmarks.md, round 4b).
    try:
        template_id = db_value(TEMPLATE_ID, uuid.UUID(str(ref)))
    except ValueError:
        template_id = None
    rows = fetch(
        "template_by_ref",
        JobTemplate,
        workspace_id=db_value(WORKSPACE_ID, workspace.pk),
        template_id=template_id,
        slug=str(ref),
    )
    if not rows:
        return None
    row = rows[0]
    template = model_from_row(JobTemplate, row)
    template.workspace = workspace
    if row["version_id"] is not None:
        template.current_version = model_from_row(
            TemplateVersion, {name: row[f"version_{name}"] for name in VERSION_COLUMNS}
        )
    return template


def parse_definition(data, workspace, *, slug=None):
    """The validated definition from a write request, or a 400 with DefinitionError's
    field paths. (YAML alias bombs and sources nested past the parser's recursion are
    refused by the definition reader itself, for the UI and the admin too.)"""
    source = data.get("source")
    document = source if source is not None else dict(data["definition"])
    if slug is not None and isinstance(document, dict):
        document.setdefault("slug", slug)
    try:
        definition = load_definition(document, rules=definition_rules(workspace))
    except DefinitionError as exc:
        raise exceptions.ValidationError(exc.errors) from None
    except RecursionError:
        raise exceptions.ValidationError({"source": ["the definition nests too deeply"]}) from None
    return definition, (source if source is not None else "")


def editor(request):
    return None if isinstance(request.user, ApiKeyUser) else request.user


class TemplateListQuery(QuerySerializer):
    archived = serializers.BooleanField(required=False, default=False)


class TemplateAPIView(WorkspaceAPIView):
    def get_template(self, ref):
        template = find_template(self.workspace, ref)
        if template is None or template.current_version_id is None:
            raise not_found()
        return template

    def context(self):
        return {"request": self.request, "show_source": self.tenant.is_admin}


WRITE_PARSERS = [LimitedJSONParser, YamlTextParser, TextYamlParser]
WRITE_DESCRIPTION = (
    'Send `{"source": "<YAML or JSON text>"}` or `{"definition": {...}}` as JSON, or the YAML '
    "itself with `Content-Type: application/yaml`. Every problem is reported at once in "
    "`errors`, keyed by where it is (`steps.fetch.with.url`, `variables.days.min`, …)."
)


class TemplateListView(TemplateAPIView):
    parser_classes = WRITE_PARSERS

    @extend_schema(
        operation_id="templates_list",
        summary="List templates",
        parameters=[
            OpenApiParameter(
                "archived", OpenApiTypes.BOOL, description="true: include archived templates."
            ),
        ]
        + response_headers(),
        responses={200: TemplateListSerializer, **error_responses()},
        tags=["templates"],
    )
    def get(self, request):
        query = TemplateListQuery(request.query_params)
        query.is_valid(raise_exception=True)
        include_archived = query.validated_data["archived"]
        templates = (
            JobTemplate.objects.filter(workspace=self.workspace, current_version__isnull=False)
            .select_related("current_version", "workspace")
            .order_by("name", "slug")
        )
        if not include_archived:
            templates = templates.filter(archived_at__isnull=True)
        data = TemplateSummarySerializer(templates, many=True, context=self.context()).data
        return Response({"results": data})

    @extend_schema(
        operation_id="templates_create",
        summary="Create a template (admin)",
        description=WRITE_DESCRIPTION
        + " 409 when a template with that slug exists (PUT updates it).",
        # The raw YAML body (`Content-Type: application/yaml`) is in the description, not
        # the schema: generated clients cannot send a YAML body and warn about it; JSON
        # `{"source": "<YAML>"}` does the same.
        request={"application/json": TemplateWriteSerializer},
        parameters=response_headers(Location=((201,), "The new template's URL.")),
        responses={201: TemplateSerializer, **error_responses(409, 413, 415)},
        tags=["templates"],
    )
    def post(self, request):
        serializer = TemplateWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition, source = parse_definition(serializer.validated_data, self.workspace)
        with transaction.atomic():
            existing = JobTemplate.objects.filter(
                workspace=self.workspace, slug=definition["slug"]
            ).first()
            if existing is not None and existing.archived_at is None:
                raise Conflict(
                    f"A template with the slug '{definition['slug']}' exists; PUT to its URL to change it.",
                    code="exists",
                )
            template = save_template_version(
                self.workspace, definition, source=source, user=editor(request)
            )
        template = self.get_template(template.pk)
        location = request.build_absolute_uri(reverse("api-template-detail", args=[template.pk]))
        return Response(
            TemplateSerializer(template, context=self.context()).data,
            status=201,
            headers={"Location": location},
        )


class TemplateDetailView(TemplateAPIView):
    parser_classes = WRITE_PARSERS

    @extend_schema(
        operation_id="templates_retrieve",
        summary="A template with its variables, steps and settings",
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={200: TemplateSerializer, **error_responses(404)},
        tags=["templates"],
    )
    def get(self, request, template_ref):
        return Response(
            TemplateSerializer(self.get_template(template_ref), context=self.context()).data
        )

    @extend_schema(
        operation_id="templates_update",
        summary="Update a template: a new version (admin)",
        description=WRITE_DESCRIPTION + " The slug cannot change. Jobs already created keep the "
        "version they were created from.",
        # The raw YAML body (`Content-Type: application/yaml`) is in the description, not
        # the schema: generated clients cannot send a YAML body and warn about it; JSON
        # `{"source": "<YAML>"}` does the same.
        request={"application/json": TemplateWriteSerializer},
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={200: TemplateSerializer, **error_responses(404, 413, 415)},
        tags=["templates"],
    )
    def put(self, request, template_ref):
        template = self.get_template(template_ref)
        serializer = TemplateWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition, source = parse_definition(
            serializer.validated_data, self.workspace, slug=template.slug
        )
        if definition["slug"] != template.slug:
            raise exceptions.ValidationError(
                {"slug": [f"must stay '{template.slug}': a template's slug cannot change"]}
            )
        save_template_version(self.workspace, definition, source=source, user=editor(request))
        template = self.get_template(template.pk)
        return Response(TemplateSerializer(template, context=self.context()).data)

    @extend_schema(
        operation_id="templates_archive",
        summary="Archive a template (admin)",
        description="It disappears from the list and no new job can start from it; its jobs stay. "
        "Saving it again (POST or PUT) brings it back.",
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={204: OpenApiResponse(description="Archived."), **error_responses(404)},
        tags=["templates"],
    )
    def delete(self, request, template_ref):
        template = self.get_template(template_ref)
        if template.archived_at is None:
            template.archived_at = timezone.now()
            template.updated_at = template.archived_at
            template.save(update_fields=["archived_at", "updated_at"])
        return Response(status=204)


class TemplateSchemaView(TemplateAPIView):
    @extend_schema(
        operation_id="templates_schema",
        summary="JSON Schema of a template's variables and per-step params",
        description="The same rules the API applies when a job is created (the UI's start form is "
        "generated from it too).",
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={200: TemplateSchemaSerializer, **error_responses(404)},
        tags=["templates"],
    )
    def get(self, request, template_ref):
        template = self.get_template(template_ref)
        definition = template.definition
        return Response(
            {
                "template": {
                    "id": str(template.pk),
                    "slug": template.slug,
                    "version": template.current_version.number,
                },
                "variables": json_schema(definition.get("variables", {})),
                "params": params_json_schema(definition.get("steps", [])),
            }
        )


class TemplateValidateView(TemplateAPIView):
    required_roles = {"POST": Role.VIEWER}

    @extend_schema(
        operation_id="templates_validate",
        summary="Dry run of a job's input",
        description="Checks `variables` and `params` exactly as creating a job would, and creates "
        "nothing. Always 200 for a well-formed request: `valid` and `errors` say the verdict.",
        request=TemplateValidateSerializer,
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={200: TemplateValidationSerializer, **error_responses(404, 413, 415)},
        tags=["templates"],
    )
    def post(self, request, template_ref):
        template = self.get_template(template_ref)
        serializer = TemplateValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition = template.definition
        data = serializer.validated_data
        variables, params, errors = check_job_input(
            definition, data.get("variables"), data.get("params")
        )
        shown = masked_values(definition.get("variables", {}), variables)
        declared_params = {
            step["id"]: step.get("params") or {} for step in definition.get("steps", [])
        }
        shown_params = {
            step_id: masked_values(declared_params.get(step_id, {}), values)
            for step_id, values in params.items()
        }
        return Response(
            {
                "valid": not errors,
                "errors": errors,
                "variables": shown if not errors else {},
                "params": shown_params if not errors else {},
            }
        )


class TemplateTriggerKeyView(TemplateAPIView):
    @extend_schema(
        operation_id="templates_trigger_key",
        summary="Issue the template's trigger key (admin)",
        description="For the trigger URL (`/api/hooks/<workspace>/<template>/trigger/`). The raw key "
        "is in this response only; a previous key stops working. 409 when the template does not "
        "enable `settings.trigger_url`.",
        request=None,
        parameters=[TEMPLATE_REF] + response_headers(),
        responses={201: TriggerKeySerializer, **error_responses(404, 409)},
        tags=["templates"],
    )
    def post(self, request, template_ref):
        template = self.get_template(template_ref)
        require_no_body(request)
        try:
            raw = issue_trigger_key(template)
        except TriggerUrlDisabled as exc:
            raise Conflict(str(exc), code="trigger_url_disabled") from None
        url = request.build_absolute_uri(
            reverse("api-hook-trigger", args=[self.workspace.slug, template.slug])
        )
        return Response({"key": raw, "trigger_url": url}, status=201)
