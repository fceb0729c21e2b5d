"""schedules/ — a template run on a cron expression in a time zone with fixed variables.
Everyone reads them; operators add and change them; admins delete them.

The rules are `jobs.automation.schedules.save_schedule`'s, the same for the settings
pages and the admin: every problem is reported at once, keyed `cron`, `timezone`,
`template`, `enabled` or `variables.<name>`; saving with variables that validate clears
a pause's reason.

Secret variables are never shown ("***"); a secret left out of `variables`, or sent
back as "***", keeps its stored value, and one sent empty is dropped (the template's
default applies again). Only what was given is stored: a variable left out takes the
template's default at each run.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from jobs.api.webhooks_serializers import TemplateIdSlugSerializer
from jobs.api.webhooks_views import NO_SUCH_TEMPLATE
from jobs.automation.schedules import (
    ScheduleInvalid,
    declared_variables,
    normalize_cron,
    normalize_timezone,
    save_schedule,
    validate_schedule,
)
from jobs.engine.events import MASK
from jobs.models.automation import Schedule
from jobsite.api.errors import error_responses, not_found, response_headers
from jobsite.api.fields import ObjectField, StrictBooleanField, StrictCharField, StrictSerializer
from jobsite.api.views import WorkspaceAPIView
from jobsite.models import Role
from templates_app.api import editor, find_template
from templates_app.definition import secret_names

SCHEDULE_ID = OpenApiParameter(
    "schedule_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The schedule's id."
)


# --- how they look --------------------------------------------------------------------------


class ScheduleSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    template = serializers.SerializerMethodField()
    name = serializers.CharField(
        help_text='Jobs it starts record it as created_by "schedule:<name>".'
    )
    cron = serializers.CharField(
        help_text="Five fields: minute hour day-of-month month day-of-week."
    )
    timezone = serializers.CharField(help_text="The IANA time zone the cron expression is read in.")
    variables = serializers.SerializerMethodField()
    enabled = serializers.BooleanField()
    paused_reason = serializers.SerializerMethodField(
        help_text="Why the dispatcher paused it, if it did."
    )
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="null while it is off.")
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_job_id = serializers.UUIDField(allow_null=True, help_text="The job its last run started.")

    @extend_schema_field(TemplateIdSlugSerializer())
    def get_template(self, schedule):
        return {"id": str(schedule.template_id), "slug": schedule.template.slug}

    @extend_schema_field(
        ObjectField(
            help_text='The values given (left out: the template\'s default); secrets read "***".'
        )
    )
    def get_variables(self, schedule):
        secrets = secret_names(declared_variables(schedule.template))
        return {
            name: (MASK if name in secrets and value not in (None, "") else value)
            for name, value in (schedule.variables or {}).items()
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_paused_reason(self, schedule):
        return schedule.paused_reason or None


class ScheduleListSerializer(serializers.Serializer):
    results = ScheduleSerializer(many=True)


# --- what they accept -----------------------------------------------------------------------


class ScheduleWriteSerializer(StrictSerializer):
    """A schedule to add, or (PATCH) what to change in one."""

    template = StrictCharField(
        max_length=200, help_text="Id or slug of a template of this workspace."
    )
    name = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    cron = StrictCharField(
        max_length=100,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. 0 3 * * 1-5.",
    )
    timezone = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=64,
        default="UTC",
        help_text="An IANA name such as Europe/Paris; empty means UTC.",
    )
    variables = ObjectField(
        required=False,
        default=dict,
        help_text="Values of the template's variables; replaces the stored ones, except that a secret left out "
        'or sent as "***" keeps its stored value (sent empty, it is dropped).',
    )
    enabled = StrictBooleanField(required=False, default=True, help_text="Runs only while enabled.")

    def validate_cron(self, value):
        return normalize_cron(value)

    def validate_timezone(self, value):
        return normalize_timezone(value)


class ScheduleUpdateSerializer(ScheduleWriteSerializer):
    """What to change in a schedule: only the fields sent (the whole schedule is checked
    again)."""

    template = StrictCharField(
        required=False, max_length=200, help_text="Id or slug of a template of this workspace."
    )
    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    cron = StrictCharField(
        required=False,
        max_length=100,
        help_text="Five fields: minute hour day-of-month month day-of-week.",
    )
    timezone = StrictCharField(
        required=False, allow_blank=True, max_length=64, help_text="An IANA name; empty means UTC."
    )
    variables = ObjectField(
        required=False,
        help_text='Replaces the stored variables, except that a secret left out or sent as "***" keeps its '
        "stored value (sent empty, it is dropped).",
    )
    enabled = StrictBooleanField(
        required=False, help_text="true runs it again (and clears paused_reason)."
    )


# --- the rules: jobs.automation.schedules ---------------------------------------------------


def _template(workspace, ref, schedule):
    """A live template of this workspace, or the schedule's own even if archived since (it
    then cannot be enabled); None when there is no such template here."""
    template = find_template(workspace, ref)
    if template is None or template.current_version_id is None:
        return None, NO_SUCH_TEMPLATE
    if template.archived_at is not None and template.pk != schedule.template_id:
        return None, "this template is archived"
    return template, None


def apply_changes(workspace, schedule, data):
    """Save what `data` changes with `save_schedule`; a 400 naming every problem at once
    otherwise."""
    changes = {
        name: data[name]
        for name in ("name", "cron", "timezone", "enabled", "variables")
        if name in data
    }
    if "template" in data:
        template, problem = _template(workspace, data["template"], schedule)
        if problem:
            _, errors = validate_schedule(
                schedule,
                template=None,
                cron=data.get("cron", schedule.cron),
                timezone=data.get("timezone", schedule.timezone),
                enabled=False,
                variables=None,
            )
            raise exceptions.ValidationError({"template": [problem], **errors})
        changes["template"] = template
    try:
        return save_schedule(schedule, **changes)
    except ScheduleInvalid as exc:
        raise exceptions.ValidationError(exc.errors) from None


# --- the endpoints --------------------------------------------------------------------------


def workspace_schedules(workspace):
    """Schedules of `workspace` — the only way these views reach one."""
    return Schedule.objects.filter(workspace=workspace).select_related("template__current_version")


class ScheduleAPIView(WorkspaceAPIView):
    def get_schedule(self, schedule_id):
        schedule = workspace_schedules(self.workspace).filter(pk=schedule_id).first()
        if schedule is None:
            raise not_found()
        return schedule

    def shown(self, schedule):
        return ScheduleSerializer(self.get_schedule(schedule.pk)).data


class ScheduleListView(ScheduleAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="schedules_list",
        summary="List schedules",
        description='By template name, then cron expression. Secret variables read "***".',
        parameters=response_headers(),
        responses={200: ScheduleListSerializer, **error_responses()},
        tags=["schedules"],
    )
    def get(self, request):
        schedules = workspace_schedules(self.workspace).order_by(
            "template__name", "cron", "created_at", "pk"
        )
        return Response({"results": ScheduleSerializer(schedules, many=True).data})

    @extend_schema(
        operation_id="schedules_create",
        summary="Add a schedule (operator)",
        description="400 naming each problem at once: `cron`, `timezone`, `template`, `enabled` (an "
        "archived template cannot run) and `variables.<name>` (checked as when a job starts).",
        request=ScheduleWriteSerializer,
        parameters=response_headers(Location=((201,), "The new schedule's URL.")),
        responses={201: ScheduleSerializer, **error_responses(413, 415)},
        tags=["schedules"],
    )
    def post(self, request):
        serializer = ScheduleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = Schedule(workspace=self.workspace, created_by=editor(request))
        apply_changes(self.workspace, schedule, serializer.validated_data)
        location = request.build_absolute_uri(reverse("api-schedule-detail", args=[schedule.pk]))
        return Response(self.shown(schedule), status=201, headers={"Location": location})


class ScheduleDetailView(ScheduleAPIView):
    required_roles = {"PATCH": Role.OPERATOR, "DELETE": Role.ADMIN}

    @extend_schema(
        operation_id="schedules_retrieve",
        summary="One schedule",
        parameters=[SCHEDULE_ID] + response_headers(),
        responses={200: ScheduleSerializer, **error_responses(404)},
        tags=["schedules"],
    )
    def get(self, request, schedule_id):
        return Response(ScheduleSerializer(self.get_schedule(schedule_id)).data)

    @extend_schema(
        operation_id="schedules_update",
        summary="Change a schedule (operator)",
        description="Only the fields sent change, but the whole schedule is checked again (a paused "
        "one's variables too); saving it with variables that validate clears `paused_reason`, "
        "and `enabled: true` runs it again. A dispatcher's run recorded meanwhile is kept.",
        request=ScheduleUpdateSerializer,
        parameters=[SCHEDULE_ID] + response_headers(),
        responses={200: ScheduleSerializer, **error_responses(404, 413, 415)},
        tags=["schedules"],
    )
    def patch(self, request, schedule_id):
        schedule = self.get_schedule(schedule_id)
        serializer = ScheduleUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        apply_changes(self.workspace, schedule, serializer.validated_data)
        return Response(self.shown(schedule))

    @extend_schema(
        operation_id="schedules_delete",
        summary="Delete a schedule (admin)",
        description="It starts no more jobs; the jobs it started stay. (PATCH `enabled: false` "
        "instead keeps it for later.)",
        parameters=[SCHEDULE_ID] + response_headers(),
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
        tags=["schedules"],
    )
    def delete(self, request, schedule_id):
        self.get_schedule(schedule_id).delete()
        return Response(status=204)
