"""/api/hooks/<workspace>/<template>/… — trigger a template from a plain URL (SPEC §6.4).

For tools that can only call a URL (cron, a CI step, another product's webhook). The
template's trigger key comes in `X-Trigger-Key` or `?key=`; every other query or body
field is a variable. Answers are plain text: the job id, a one-word status, log lines, or
the problem in a sentence."""

import hmac
import uuid

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from jobs.api.idempotency import respond_once
from jobs.engine.log_format import log_line
from jobs.engine.states import JobStatus
from jobs.engine.transitions import TransitionRefused
from jobs.models import EventKind, Job, Trigger
from jobs.services import JobValidationError, create_job
from jobsite.api.errors import Conflict
from jobsite.api.parsers import FirstRendererNegotiation, LimitedFormParser, LimitedJSONParser
from jobsite.api.throttling import add_rate_limit_headers, refuse_wrong_key
from jobsite.models import hash_key
from templates_app.models import JobTemplate, trigger_enabled

ONE_WORD = {
    JobStatus.DRAFT: "Pending",
    JobStatus.QUEUED: "Pending",
    JobStatus.RUNNING: "Executing",
    JobStatus.SUCCEEDED: "Succeeded",
    JobStatus.PARTIAL: "Warning",
    JobStatus.FAILED: "Error",
    JobStatus.CANCELED: "Error",
}


class PlainTextRenderer(BaseRenderer):
    """Text as is; an error as its sentence, then one line per field problem."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if isinstance(data, dict):
            lines = [str(data.get("detail", ""))]
            for field, messages in (data.get("errors") or {}).items():
                lines.extend(f"{field}: {message}" for message in messages)
            data = "\n".join(lines) + "\n"
        return str(data).encode(self.charset)


KEY_PARAMETERS = [
    OpenApiParameter(
        "X-Trigger-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="The template's trigger key.",
    ),
    OpenApiParameter(
        "key", OpenApiTypes.STR, description="The trigger key, for tools that cannot set headers."
    ),
]
HOOK_PATH = [
    OpenApiParameter("workspace_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
    OpenApiParameter("template_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
]
HOOK_ERRORS = {
    (403, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="Wrong or missing trigger key."
    ),
    (404, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="No such template, or it does not allow triggering by URL."
    ),
    (429, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="Too many requests (or too many wrong keys): see Retry-After."
    ),
}
TRIGGER_ERRORS = {
    (400, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR, description="Bad or missing variables; each line names one."
    ),
    **HOOK_ERRORS,
}
HOOK_JOB_ERRORS = {
    (400, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR,
        description="The query holds text that cannot be stored (a NUL or a lone surrogate).",
    ),
    **HOOK_ERRORS,
    (404, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR,
        description="No such template (or it does not allow triggering by URL), or no such job of it.",
    ),
}
# The GET trigger's variables: any query field but `key` (form style, exploded), so a
# generated client can send them as one mapping.
QUERY_VARIABLES = OpenApiParameter(
    "variables",
    {"type": "object", "additionalProperties": {"type": "string"}},
    OpenApiParameter.QUERY,
    style="form",
    explode=True,
    description="Variables of the template, each as its own query field (`?days=7&region=eu`); "
    "they override the template's defaults.",
)


class HookView(APIView):
    authentication_classes = []
    permission_classes = []
    renderer_classes = [PlainTextRenderer]
    content_negotiation_class = FirstRendererNegotiation
    parser_classes = [LimitedJSONParser, LimitedFormParser]

    def get_template(self, workspace_slug, template_slug):
        """The enabled template, after checking the trigger key (403 when wrong)."""
        template = (
            JobTemplate.objects.filter(
                workspace__slug=workspace_slug,
                slug=template_slug,
                archived_at__isnull=True,
                current_version__isnull=False,
            )
            .select_related("workspace", "current_version")
            .first()
        )
        if template is None or not trigger_enabled(template.definition):
            raise exceptions.NotFound("No such template, or it does not allow triggering by URL.")
        raw = (
            self.request.META.get("HTTP_X_TRIGGER_KEY")
            or self.request.query_params.get("key")
            or ""
        )
        expected = template.trigger_key_hash
        if not expected or not hmac.compare_digest(hash_key(raw), expected):
            refuse_wrong_key(
                self.request, raw, exceptions.PermissionDenied("Wrong or missing trigger key.")
            )
        return template

    def get_job(self, template, job_id):
        try:
            job_id = uuid.UUID(job_id)
        except ValueError:
            raise exceptions.NotFound("No such job of this template.") from None
        job = Job.objects.filter(workspace=template.workspace, template=template, pk=job_id).first()
        if job is None:
            raise exceptions.NotFound("No such job of this template.")
        return job

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_rate_limit_headers(request, response)
        return response


def text_response(text, status=200):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def variables_from(request):
    """Query string fields (but `key`) overridden by body fields; repeated fields are lists."""
    variables = {}
    for source in (request.query_params, request.data):
        if hasattr(source, "getlist"):
            for name in source:
                if source is request.query_params and name == "key":
                    continue
                values = source.getlist(name)
                variables[name] = values[0] if len(values) == 1 else values
        elif isinstance(source, dict):
            variables.update(source)
        else:
            raise exceptions.ValidationError(
                {"body": ["a JSON body must be an object of variables"]}
            )
    return variables


class TriggerView(HookView):
    def _trigger(self, request, workspace_slug, template_slug):
        template = self.get_template(workspace_slug, template_slug)
        variables = variables_from(request)

        def create():
            try:
                job = create_job(
                    template.workspace,
                    template=template,
                    variables=variables,
                    trigger=Trigger.TRIGGER_URL,
                    created_by="trigger_url",
                    start=True,
                )
            except JobValidationError as exc:
                raise exceptions.ValidationError(exc.errors) from None
            except TransitionRefused as exc:
                raise Conflict(str(exc)) from None
            return text_response(f"{job.pk}\n"), job

        return respond_once(request, template.workspace, variables, create)

    @extend_schema(
        operation_id="hooks_trigger_get",
        summary="Trigger a template by URL",
        description="Query fields other than `key` are variables. Answers the new job's id as text.",
        parameters=HOOK_PATH + KEY_PARAMETERS + [QUERY_VARIABLES],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The job id."),
            **TRIGGER_ERRORS,
        },
        auth=[],
        tags=["trigger URL"],
    )
    def get(self, request, workspace_slug, template_slug):
        return self._trigger(request, workspace_slug, template_slug)

    @extend_schema(
        operation_id="hooks_trigger_post",
        summary="Trigger a template by URL (variables in the body)",
        description="JSON object or form fields are variables (they override query fields).",
        parameters=HOOK_PATH + KEY_PARAMETERS,
        request={
            "application/json": {"type": "object", "additionalProperties": True},
            "application/x-www-form-urlencoded": {"type": "object", "additionalProperties": True},
        },
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The job id."),
            **TRIGGER_ERRORS,
        },
        auth=[],
        tags=["trigger URL"],
    )
    def post(self, request, workspace_slug, template_slug):
        return self._trigger(request, workspace_slug, template_slug)


HOOK_JOB = (
    HOOK_PATH
    + [OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH)]
    + KEY_PARAMETERS
)


class HookJobStatusView(HookView):
    @extend_schema(
        operation_id="hooks_job_status",
        summary="A triggered job's status in one word",
        description="Pending, Executing, Succeeded, Warning (partial) or Error (failed or canceled).",
        parameters=HOOK_JOB,
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="One word."),
            **HOOK_JOB_ERRORS,
        },
        auth=[],
        tags=["trigger URL"],
    )
    def get(self, request, workspace_slug, template_slug, job_id):
        job = self.get_job(self.get_template(workspace_slug, template_slug), job_id)
        return text_response(ONE_WORD[job.status] + "\n")


class HookJobLogsView(HookView):
    @extend_schema(
        operation_id="hooks_job_logs",
        summary="A triggered job's whole log as text",
        description="`LEVEL: message` per line, levels DEBUG, INFO, WARN, ERROR.",
        parameters=HOOK_JOB,
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The log."),
            **HOOK_JOB_ERRORS,
        },
        auth=[],
        tags=["trigger URL"],
    )
    def get(self, request, workspace_slug, template_slug, job_id):
        job = self.get_job(self.get_template(workspace_slug, template_slug), job_id)
        events = (
            job.events.filter(kind=EventKind.LOG)
            .order_by("seq")
            .only("level", "message", "step_id")
        )
        return text_response(
            "".join(log_line(event, with_step=False) + "\n" for event in events.iterator())
        )
