"""uploads/ — send a file for a job's `file` variable (SPEC §6.2; jobs/uploads.py)."""

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from jobs.uploads import (
    MB,
    HashingUploadHandler,
    UploadRefused,
    check_media_type,
    max_upload_bytes,
    save_upload,
    too_large,
)
from jobsite.api.errors import RequestTooLarge, error_responses, response_headers
from jobsite.api.views import WorkspaceAPIView
from jobsite.models import Role


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Give it as the value of a `file` variable.")
    name = serializers.CharField(
        help_text="The file name the job's steps see under $JOBSITE_INPUTS."
    )
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    content_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(
        help_text="After this the id is refused; jobs that used it keep the file."
    )


def refused(exc: UploadRefused) -> exceptions.APIException:
    """An UploadRefused as the API's error, naming the field."""
    kind = {413: RequestTooLarge, 415: exceptions.UnsupportedMediaType}.get(exc.status)
    if kind is None:
        return exceptions.ValidationError({exc.field: [exc.message]})
    error = (
        kind(exc.message) if kind is RequestTooLarge else kind(media_type="", detail=exc.message)
    )
    error.errors = {exc.field: [exc.message]}
    return error


MULTIPART_BODY = {
    "type": "object",
    "properties": {"file": {"type": "string", "format": "binary"}},
    "required": ["file"],
}


class UploadListView(WorkspaceAPIView):
    required_roles = {"POST": Role.OPERATOR}
    parser_classes = []  # the body is streamed by HashingUploadHandler, never parsed whole
    streams_uploads = True  # nothing may read the body before initialize_request

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (a session's CSRF check reads the form): the
        # server's per-file cap now, the workspace's room once it is known (post()).
        self.receiver = HashingUploadHandler(settings.JOBSITE_UPLOAD_MAX_MB * MB)
        request.upload_handlers = [self.receiver]
        return super().initialize_request(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, UploadRefused):
            exc = refused(exc)
        elif isinstance(exc, MultiPartParserError):
            exc = exceptions.ValidationError({"file": [f"the multipart body is malformed: {exc}"]})
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="uploads_create",
        summary="Upload a file",
        description=(
            "`multipart/form-data` with one file in the field `file`, or the raw file as the body "
            "with its own `Content-Type` and `?name=`. Streamed to storage (never held in memory), "
            "its SHA-256 computed on the way. Give the answer's `id` as a `file` variable's value; "
            "any number of jobs of this workspace may use it until `expires_at`. 413 past "
            "the size cap, 415 for a form-encoded or untyped body."
        ),
        request={
            "multipart/form-data": MULTIPART_BODY,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "name",
                OpenApiTypes.STR,
                description="The file's name (raw bodies; multipart sends its own).",
            ),
        ]
        + response_headers(),
        responses={201: UploadSerializer, **error_responses(413, 415)},
        tags=["uploads"],
    )
    def post(self, request):
        django_request = request._request
        limit = max_upload_bytes(self.workspace)
        self.receiver.limit = min(self.receiver.limit, limit)
        declared = django_request.META.get("CONTENT_LENGTH")
        if (
            declared and declared.isdigit() and int(declared) > limit + 64 * 1024
        ):  # multipart framing
            raise too_large("file", limit)
        content_type = django_request.META.get("CONTENT_TYPE", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type == "multipart/form-data":
            django_request.FILES  # noqa: B018 - parses the body through self.receiver
            if not self.receiver.files:
                raise UploadRefused(
                    "file", "this field is required: send the file in the form field 'file'"
                )
            received = self.receiver.files[0][1]
            check_media_type(received.content_type, "file")
            if (
                received.size > limit
            ):  # parsed before the workspace was known (a session's CSRF check)
                raise too_large("file", limit)
        elif media_type in ("", "application/x-www-form-urlencoded") or media_type.startswith(
            "multipart/"
        ):
            raise UploadRefused(
                "file",
                "send multipart/form-data with the field 'file', or the raw file with its own Content-Type",
                415,
            )
        else:
            check_media_type(content_type, "Content-Type")
            name = request.query_params.get("name", "").strip()
            if not name:
                raise UploadRefused(
                    "name", "this query parameter is required with a raw body: ?name=<file name>"
                )
            received = self.receiver.receive_raw_body(django_request, name, content_type)
        upload = save_upload(self.workspace, received, created_by=self.tenant.actor)
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)
