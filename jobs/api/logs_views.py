"""jobs/{id}/logs/ and jobs/{id}/result/ — the job's output as text.

logs/ pages through the log by seq: each answer says where to continue in `X-Next-After`
and whether the log is complete in `X-Log-Complete`. With `?follow=1` it streams instead:
the response stays open, sending lines as the job writes them, and ends when the job has
finished (or after JOBSITE_API_LOG_FOLLOW_SECONDS; resume with ?after=)."""

import time

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from jobs.api.common import JOB_ID, JobAPIView, json_response
from jobs.api.serializers import JobResultSerializer
from jobs.engine.log_format import LEVELS, levels_at_least, log_line, tail_lines
from jobs.engine.states import JOB_TERMINAL
from jobs.models import EventKind, Job
from jobs.representation import result_to_dict
from jobsite.api.errors import Conflict, error_responses, response_headers
from jobsite.api.fields import QuerySerializer
from jobsite.api.parsers import FirstRendererNegotiation

LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR"}
PAGE_LINES, MAX_LINES = 10_000, 100_000
FOLLOW_BATCH = 500
TEXT = "text/plain; charset=utf-8"


class LogQuery(QuerySerializer):
    after = serializers.IntegerField(required=False, min_value=0, default=0)
    step = serializers.CharField(required=False)
    level = serializers.CharField(required=False)
    tail = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LINES)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LINES, default=PAGE_LINES
    )
    follow = serializers.BooleanField(required=False, default=False)
    q = serializers.CharField(required=False, max_length=200, trim_whitespace=True)

    def validate_level(self, value):
        level = LEVEL_ALIASES.get(value.strip().upper(), value.strip().upper())
        if level not in LEVELS:
            raise serializers.ValidationError(f"use one of: {', '.join(LEVELS)}")
        return levels_at_least(level)


def log_queryset(job, query):
    events = job.events.filter(kind=EventKind.LOG, seq__gt=query["after"])
    if query.get("step"):
        events = events.filter(step_id=query["step"])
    if query.get("level"):
        events = events.filter(level__in=query["level"])
    if query.get("q"):
        events = events.filter(message__icontains=query["q"])
    return events.only("seq", "step_id", "level", "message")


def follow_log(job_id, query, first_lines, after):
    """Yield log lines as the job writes them, until it has finished."""
    yield from first_lines
    deadline = time.monotonic() + settings.JOBSITE_API_LOG_FOLLOW_SECONDS
    last = after
    while True:
        # The status is read before the events: once a finished status is seen, every
        # event the job will ever have is already visible.
        job = Job.objects.filter(pk=job_id).first()
        if job is None:
            return
        batch = list(log_queryset(job, {**query, "after": last}).order_by("seq")[:FOLLOW_BATCH])
        if batch:
            last = batch[-1].seq
            yield "".join(log_line(event) + "\n" for event in batch)
        if job.status in JOB_TERMINAL and len(batch) < FOLLOW_BATCH:
            return
        if time.monotonic() > deadline:
            return
        if not batch:
            time.sleep(settings.JOBSITE_API_LOG_POLL_SECONDS)


class JobLogsView(JobAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="jobs_logs",
        summary="The job's log as plain text",
        description="One line per log event, `LEVEL: [step] message`, in order. Pages by seq: "
        "continue with `?after=<X-Next-After>` until `X-Log-Complete: true`. `?follow=1` streams "
        "lines as they come and ends when the job has finished.",
        parameters=[
            JOB_ID,
            OpenApiParameter("after", OpenApiTypes.INT, description="Only lines after this seq."),
            OpenApiParameter("step", OpenApiTypes.STR, description="Only this step's lines."),
            OpenApiParameter(
                "level", OpenApiTypes.STR, enum=list(LEVELS), description="This level and above."
            ),
            OpenApiParameter(
                "tail", OpenApiTypes.INT, description=f"Only the last N lines (1–{MAX_LINES})."
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"At most N lines (1–{MAX_LINES}, default {PAGE_LINES}).",
            ),
            OpenApiParameter(
                "follow", OpenApiTypes.BOOL, description="Stream until the job has finished."
            ),
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="Only lines containing this text (case-insensitive).",
            ),
        ]
        + response_headers(
            X_Next_After=(
                (200,),
                "The seq to pass as ?after= for what comes next (not sent when following).",
            ),
            X_Log_Complete=(
                (200,),
                '"true" when the job has finished and this is the end of its log.',
            ),
            X_Job_Status=((200,), "The job's status when the answer was made."),
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The log lines."),
            **error_responses(404),
        },
        tags=["jobs"],
    )
    def get(self, request, job_id):
        query = LogQuery(request.query_params)
        query.is_valid(raise_exception=True)
        query = query.validated_data
        job = self.get_job(job_id)
        events = log_queryset(job, query)
        if query.get("tail"):
            lines = tail_lines(events, job.last_event_seq, query["tail"])
            more = False
        else:
            lines = list(events.order_by("seq")[: query["limit"] + 1])
            more = len(lines) > query["limit"]
            lines = lines[: query["limit"]]
        next_after = lines[-1].seq if lines else query["after"]
        if query.get("tail") and not lines:
            next_after = max(query["after"], job.last_event_seq)
        text = "".join(log_line(event) + "\n" for event in lines)
        if query["follow"] and job.status not in JOB_TERMINAL:
            response = StreamingHttpResponse(
                follow_log(job.pk, query, [text] if text else [], next_after), content_type=TEXT
            )
            response["X-Accel-Buffering"] = "no"  # let a proxy pass lines through as they come
        else:
            response = HttpResponse(text, content_type=TEXT)
            response["X-Next-After"] = str(next_after)
            response["X-Log-Complete"] = (
                "true" if job.status in JOB_TERMINAL and not more else "false"
            )
        response["X-Job-Status"] = job.status
        response["Cache-Control"] = "no-cache"
        return response


def prefers_json(accept):
    """True when the Accept header ranks application/json above text/markdown."""
    best = {"markdown": (-1.0, 99), "json": (-1.0, 99)}
    for position, part in enumerate((accept or "").split(",")):
        media, *options = [piece.strip() for piece in part.split(";")]
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        media = media.lower()
        kinds = {
            "application/json": ["json"],
            "text/markdown": ["markdown"],
            "text/*": ["markdown"],
            "text/plain": ["markdown"],
            "*/*": ["markdown", "json"],
            "application/*": ["json"],
        }.get(media, [])
        for kind in kinds:
            if (quality, -position) > (best[kind][0], -best[kind][1]):
                best[kind] = (quality, position)
    # Ties go to markdown, the default.
    return best["json"][0] > best["markdown"][0] or (
        best["json"][0] == best["markdown"][0] > 0 and best["json"][1] < best["markdown"][1]
    )


class JobResultView(JobAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="jobs_result",
        summary="The finished job's result",
        description="`text/markdown` by default; `Accept: application/json` gives "
        "`{markdown, outputs}`. 409 while the job has not finished.",
        parameters=[JOB_ID] + response_headers(),
        responses={
            # JSON first: generated clients parse the first declared type (they send
            # `Accept: application/json` to get it); the server's default stays markdown.
            (200, "application/json"): OpenApiResponse(
                JobResultSerializer, description="Markdown and outputs."
            ),
            (200, "text/markdown"): OpenApiResponse(
                OpenApiTypes.STR, description="The result as markdown."
            ),
            **error_responses(404, 409),
        },
        tags=["jobs"],
    )
    def get(self, request, job_id):
        job = self.get_job(job_id)
        if job.status not in JOB_TERMINAL:
            raise Conflict(
                f"The job has not finished yet (it is {job.status}).", code="not_finished"
            )
        result = result_to_dict(job)
        if prefers_json(request.META.get("HTTP_ACCEPT")):
            return json_response(result)
        return HttpResponse(result["markdown"], content_type="text/markdown; charset=utf-8")
