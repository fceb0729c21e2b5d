"""Uploads (SPEC §6.2 `uploads/`): a file streamed to storage, for `file` variables.

The body is never held in memory: `HashingUploadHandler` receives it in chunks (from
Django's multipart parser, or from the raw request stream), writes each chunk to a
temporary file, feeds it to SHA-256 and stops as soon as the size passes the cap. The
temporary file is then moved into storage (a rename on the same filesystem).

An upload is usable by any number of jobs of its workspace until it expires
(JOBSITE_UPLOAD_EXPIRY_HOURS after it was made, used or not). A job that uses it gets
an input artifact sharing the stored file, so the job keeps its file after the upload
expires; `expire_uploads` deletes a file only when no artifact uses it.
"""

import hashlib
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.db.models import Sum
from django.utils import timezone

from jobs.engine.artifacts import workspace_stored_bytes
from jobs.models import Upload

MB = 1024 * 1024
CHUNK_BYTES = 256 * 1024
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


class UploadRefused(Exception):
    """Bad upload input: `status` (400, 413, 415) and `field` for the API's error shape."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def too_large(field: str, limit: int) -> UploadRefused:
    return UploadRefused(
        field, f"the file is larger than {limit} bytes, the most this workspace may upload now", 413
    )


def max_upload_bytes(workspace) -> int:
    """The most this workspace may upload now, in one file: the per-file cap, what is
    left of its uploads' allowance and, when the workspace has a storage quota, what is
    left of that."""
    per_file = settings.JOBSITE_UPLOAD_MAX_MB * MB
    live = (
        Upload.objects.usable().filter(workspace=workspace).aggregate(total=Sum("size"))["total"]
        or 0
    )
    room = settings.JOBSITE_UPLOAD_WORKSPACE_MAX_MB * MB - live
    if workspace.storage_quota_mb is not None:
        # The workspace storage quota (SPEC §13): artifacts and uploads together, a file
        # shared by several rows counted once.
        room = min(room, workspace.storage_quota_mb * MB - workspace_stored_bytes(workspace.pk))
    return max(0, min(per_file, room))


def safe_name(name: str) -> str:
    """A file name usable as an input name (letters, digits, '.', '_', '-')."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = UNSAFE_NAME_CHARS.sub("_", name).lstrip(".")[:200]
    return name or "upload"


class HashingUploadHandler(FileUploadHandler):
    """Streams files to temporary files, computing each one's SHA-256 (`file.sha256`) and
    refusing the request as soon as all of them together pass `limit` bytes.

    `fields`: the form fields that may carry a file (None: any); `max_files`: how many."""

    chunk_size = CHUNK_BYTES

    def __init__(self, limit: int, *, fields=("file",), max_files: int = 1, request=None):
        super().__init__(request)
        self.limit, self.fields, self.max_files = limit, fields, max_files
        self.files = []  # (field name, TemporaryUploadedFile)
        self.digest = None
        self.received = 0

    def new_file(
        self,
        field_name,
        file_name,
        content_type,
        content_length,
        charset=None,
        content_type_extra=None,
    ):
        if self.fields is not None and field_name not in self.fields:
            raise UploadRefused(
                field_name, f"unexpected file field; send the file in '{self.fields[0]}'"
            )
        if len(self.files) >= self.max_files:
            raise UploadRefused(field_name, "send one file per request")
        super().new_file(
            field_name, file_name, content_type, content_length, charset, content_type_extra
        )
        received = TemporaryUploadedFile(
            safe_name(file_name), content_type or "application/octet-stream", 0, charset
        )
        self.files.append((field_name, received))
        self.digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        field_name, received = self.files[-1]
        if self.received > self.limit:
            for _, done in self.files:
                done.close()
            raise too_large(field_name, self.limit)
        self.digest.update(raw_data)
        received.write(raw_data)
        return None

    def file_complete(self, file_size):
        _, received = self.files[-1]
        received.seek(0)
        received.size = file_size
        received.sha256 = self.digest.hexdigest()
        return received

    def receive_raw_body(self, stream, name: str, content_type: str) -> TemporaryUploadedFile:
        """A raw request body as one file, read in chunks from `stream`."""
        self.new_file(self.fields[0] if self.fields else "file", name, content_type, None)
        size = 0
        while chunk := stream.read(self.chunk_size):
            size += len(chunk)
            self.receive_data_chunk(chunk, size)
        return self.file_complete(size)


def check_media_type(content_type: str, field: str) -> str:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not MEDIA_TYPE_RE.fullmatch(media_type):
        raise UploadRefused(field, f"'{content_type}' is not a media type such as text/csv", 415)
    return media_type


def save_upload(
    workspace, received: TemporaryUploadedFile, *, field: str = "file", created_by: str = ""
) -> Upload:
    """Move a file HashingUploadHandler received into storage and record it."""
    if received.size == 0:
        raise UploadRefused(field, "the file is empty")
    now = timezone.now()
    upload = Upload(
        workspace=workspace, name=received.name, size=received.size, sha256=received.sha256,
        content_type=received.content_type, created_by=created_by, created_at=now,
        expires_at=now + timedelta(hours=settings.JOBSITE_UPLOAD_EXPIRY_HOURS),
    )  # fmt: skip
    # FileSystemStorage moves a TemporaryUploadedFile (its temporary_file_path) into place.
    upload.file.save(received.name, received, save=False)
    upload.save()
    return upload


def find_upload(workspace, value, field: str) -> Upload:
    """The usable upload of `workspace` with id `value`; an UploadRefused naming `field`
    for an unknown, expired or other workspace's id (the same message for all three)."""
    try:
        upload_id = uuid.UUID(str(value))
    except ValueError:
        raise UploadRefused(
            field, "expected an upload id (POST the file to /api/v1/uploads/ first)"
        ) from None
    upload = Upload.objects.usable().filter(workspace=workspace, pk=upload_id).first()
    if upload is None:
        raise UploadRefused(
            field, "no such upload in this workspace, or it has expired: upload the file again"
        )
    return upload


def accepts(accept: list, content_type: str) -> bool:
    """True when `content_type` matches one of `accept` ("text/csv", "text/*", "*/*")."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    for pattern in accept:
        pattern = pattern.lower()
        if pattern in ("*/*", media_type) or (
            pattern.endswith("/*") and media_type.startswith(pattern[:-1])
        ):
            return True
    return False


def expire_uploads(now=None) -> int:
    """Delete expired uploads, and their files unless a job's artifact shares them."""
    from jobs.automation.retention import delete_unshared_files

    expired = list(
        Upload.objects.filter(expires_at__lte=now or timezone.now()).values_list("pk", "file")[
            :1000
        ]
    )
    if not expired:
        return 0
    Upload.objects.filter(pk__in=[pk for pk, _ in expired]).delete()
    delete_unshared_files([name for _, name in expired])
    return len(expired)


def file_variable_names(definition) -> list:
    return [name for name, d in definition.get("variables", {}).items() if d["type"] == "file"]


def resolve_file_variables(workspace, definition, variables: dict, *, taken=(), kept=None):
    """The uploads that `file` variables name → (variables with each value replaced by
    its input's file name, {input name: Upload}, {input name: "upload:<id>"}), or
    (None, None, errors keyed "variables.<name>") when an id is unknown, expired, of
    another workspace, of a type the variable does not accept, or its file name is taken.

    `taken`: input names already used (the job's `inputs`); `kept`: for a rerun, the old
    job's values, which stay as they are (the old job's inputs are shared again)."""
    clean, files, inputs, errors = dict(variables), {}, {}, {}
    used = set(taken)
    for name in file_variable_names(definition):
        value = variables.get(name)
        if value is None or (kept and value == kept.get(name)):
            continue
        where = f"variables.{name}"
        try:
            upload = find_upload(workspace, value, where)
        except UploadRefused as exc:
            errors[where] = [exc.message]
            continue
        accept = definition["variables"][name].get("accept")
        if accept and not accepts(accept, upload.content_type):
            errors[where] = [
                f"the upload is {upload.content_type}; this variable accepts {', '.join(accept)}"
            ]
            continue
        if upload.name in used:
            errors[where] = [
                f"another input of the job is already named '{upload.name}'; upload the file under another name"
            ]
            continue
        used.add(upload.name)
        clean[name], files[upload.name], inputs[upload.name] = (
            upload.name,
            upload,
            f"upload:{upload.pk}",
        )
    if errors:
        return None, None, errors
    if files:
        Upload.objects.filter(pk__in=[upload.pk for upload in files.values()]).update(
            last_used_at=timezone.now()
        )
    return clean, files, inputs
