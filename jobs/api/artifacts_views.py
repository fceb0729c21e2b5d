"""jobs/{id}/artifacts/ — list and download the files a job produced or was given."""

from operator import attrgetter

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from jobs.api.common import JOB_ID, JobAPIView
from jobs.api.serializers import ArtifactListSerializer
from jobs.representation import artifact_to_dict
from jobsite.api.errors import error_responses, not_found, response_headers
from jobsite.api.parsers import FirstRendererNegotiation

ARTIFACT_NAME = OpenApiParameter(
    "name",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description='The artifact\'s name, e.g. "step:export.orders.csv".',
)


# What a download may answer: the artifact's own content type. application/octet-stream
# comes first so that generated clients read the body as bytes whatever it is; the others
# are the types steps commonly produce.
DOWNLOAD_MEDIA_TYPES = (
    "application/octet-stream",
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
    "application/pdf",
    "application/zip",
    "image/png",
)


def download_filename(artifact):
    """ "step:export.reports/orders.csv" → "orders.csv"."""
    name = (
        artifact.name.split(".", 1)[1]
        if artifact.step_id and "." in artifact.name
        else artifact.name
    )
    return name.rsplit("/", 1)[-1] or "artifact"


class JobArtifactListView(JobAPIView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        operation_id="jobs_artifacts_list",
        summary="The job's artifacts",
        parameters=[JOB_ID] + response_headers(),
        responses={200: ArtifactListSerializer, **error_responses(404)},
        tags=["jobs"],
    )
    def get(self, request, job_id):
        job = self.get_job(job_id)
        # By name in code point order, as job_to_dict lists them (not the database's collation).
        artifacts = sorted(job.artifacts.all(), key=attrgetter("name"))
        return Response(
            {"results": [artifact_to_dict(artifact, request) for artifact in artifacts]}
        )


class JobArtifactDownloadView(JobAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        operation_id="jobs_artifacts_download",
        summary="Download an artifact",
        description="The file, with its content type, `Content-Length` and "
        "`Content-Disposition: attachment`.",
        parameters=[JOB_ID, ARTIFACT_NAME]
        + response_headers(
            Content_Disposition=((200,), "attachment; filename=…"),
            X_Content_SHA256=((200,), "The file's SHA-256, hex."),
        ),
        responses={
            **{
                (200, media_type): OpenApiResponse(
                    OpenApiTypes.BINARY, description="The file, in its own content type."
                )
                for media_type in DOWNLOAD_MEDIA_TYPES
            },
            **error_responses(404),
        },
        tags=["jobs"],
    )
    def get(self, request, job_id, name):
        job = self.get_job(job_id)
        artifact = job.artifacts.filter(name=name).first()
        if artifact is None:
            raise not_found()
        try:
            handle = artifact.file.open("rb")
        except (FileNotFoundError, OSError, ValueError):
            raise not_found() from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=download_filename(artifact),
            content_type=artifact.content_type,
        )
        response["Content-Length"] = str(artifact.size)
        response["X-Content-SHA256"] = artifact.sha256
        return response
