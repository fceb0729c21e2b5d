"""jobs/{id}/events/ — the job's event stream (SPEC §8), read incrementally by seq."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from jobs.api.common import JOB_ID, JobAPIView
from jobs.api.serializers import EventPageSerializer, EventSerializer
from jobs.engine.states import JOB_TERMINAL
from jobsite.api.errors import error_responses, response_headers
from jobsite.api.fields import QuerySerializer

MAX_EVENTS = 1000


class EventQuery(QuerySerializer):
    after = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EVENTS, default=100)


class JobEventsView(JobAPIView):
    @extend_schema(
        operation_id="jobs_events",
        summary="The job's events after a seq",
        description="Every status change, step transition, progress change and log line, in `seq` "
        "order. Follow `next_after` to read each event exactly once.",
        parameters=[
            JOB_ID,
            OpenApiParameter(
                "after", OpenApiTypes.INT, description="Only events with a larger seq (default 0)."
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"At most this many (1–{MAX_EVENTS}, default 100).",
            ),
        ]
        + response_headers(),
        responses={200: EventPageSerializer, **error_responses(404)},
        tags=["jobs"],
    )
    def get(self, request, job_id):
        query = EventQuery(request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["after"], query.validated_data["limit"]
        job = self.get_job(job_id)
        events = list(job.events.filter(seq__gt=after).order_by("seq")[: limit + 1])
        more = len(events) > limit
        events = events[:limit]
        next_after = events[-1].seq if events else after
        return Response(
            {
                "events": EventSerializer(events, many=True).data,
                "next_after": next_after,
                "job_status": job.status,
                "complete": job.status in JOB_TERMINAL
                and not more
                and next_after >= job.last_event_seq,
            }
        )
