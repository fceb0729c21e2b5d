"""The API's one error shape (SPEC §6.5): `{"detail": "...", "code": "...", "errors": {...}}`,
with `errors` (field → messages) only for validation problems.

Every exception a view raises ends here. A 404 never says what was looked for, so an
object of another workspace and an id that never existed answer the same bytes. An
unexpected exception is logged with its traceback and answered with a bare 500: no stack
trace ever reaches a client.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from jobsite.api.fields import ErrorSerializer

log = logging.getLogger(__name__)

NOT_FOUND_DETAIL = "Not found."


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    """The object is in the wrong state for the action (or an Idempotency-Key was reused)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class WorkspaceRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = (
        "You belong to several workspaces: name one with the X-Workspace-Slug or "
        "X-Workspace-Id header."
    )
    default_code = "workspace_required"


def not_found():
    """The one 404 of the API, whatever was looked for and why it was not found."""
    return exceptions.NotFound(NOT_FOUND_DETAIL)


def error_body(detail, code, errors=None):
    body = {"detail": str(detail), "code": str(code)}
    if errors is not None:
        body["errors"] = errors
    return body


def flatten_errors(detail, prefix=""):
    """DRF's nested validation detail → {"a.b": ["message", ...]} with plain strings."""
    flat = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for inner, messages in flatten_errors(value, path).items():
                flat.setdefault(inner, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or api_settings.NON_FIELD_ERRORS_KEY] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                path = f"{prefix}[{index}]" if prefix else f"[{index}]"
                for inner, messages in flatten_errors(item, path).items():
                    flat.setdefault(inner, []).extend(messages)
    else:
        flat[prefix or api_settings.NON_FIELD_ERRORS_KEY] = [str(detail)]
    return flat


def _as_api_exception(exc):
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return not_found()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, SuspiciousOperation):
        return exceptions.ParseError("The request is malformed.")
    return None


def _is_database_outage(exc):
    # Left to jobsite.db_unavailable's middleware, which answers 503 with Retry-After.
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


def api_exception_handler(exc, context):
    # A real cycle: rest_framework.views reads the API settings, which import the
    # authentication classes, which import this module.
    from rest_framework.views import set_rollback

    api_exc = _as_api_exception(exc)
    if api_exc is None:
        if _is_database_outage(exc):
            return None
        view = context.get("view")
        log.exception(
            "unhandled error in %s", view.__class__.__name__ if view else "the API", exc_info=exc
        )
        set_rollback()
        return Response(error_body("Internal server error.", "server_error"), status=500)

    headers = {}
    if getattr(api_exc, "auth_header", None):
        headers["WWW-Authenticate"] = api_exc.auth_header
    if getattr(api_exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(api_exc.wait + 0.999)))

    if isinstance(api_exc, exceptions.ValidationError):
        body = error_body("Invalid input.", "invalid", flatten_errors(api_exc.detail))
    else:
        codes = api_exc.get_codes()
        code = codes if isinstance(codes, str) else api_exc.default_code
        detail = (
            api_exc.detail
            if not isinstance(api_exc.detail, dict | list)
            else api_exc.default_detail
        )
        errors = getattr(api_exc, "errors", None)
        body = error_body(detail, code, errors)
    set_rollback()
    return Response(body, status=api_exc.status_code, headers=headers)


def json_error_response(status_code, detail, code):
    """The error shape outside DRF views (e.g. unknown /api/ paths), rendered exactly as
    DRF renders it, so the bytes match."""
    content = JSONRenderer().render(error_body(detail, code))
    return HttpResponse(content, status=status_code, content_type="application/json")


@csrf_exempt
def api_path_not_found(request, path=""):
    return json_error_response(404, NOT_FOUND_DETAIL, "not_found")


ERROR_DESCRIPTIONS = {
    400: "Invalid input: `errors` names each field and why (also `workspace_required` for a "
    "user in several workspaces who named none).",
    401: "Missing, wrong, expired or revoked API key; answered with `WWW-Authenticate: Bearer`.",
    403: "Your role is too low for this, or a workspace header names a workspace that is not yours.",
    404: "Not found in your workspace (the same answer for another workspace's object and for an id that never existed).",
    409: "The object is in the wrong state for this action, or an Idempotency-Key was reused with another request.",
    413: "The request body is larger than the API accepts (1 MiB by default).",
    415: "The request body is not in a content type this endpoint reads (JSON).",
    429: "Too many requests: wait `Retry-After` seconds.",
}

# What any authenticated v1 endpoint may answer besides its own results.
COMMON_ERRORS = (400, 401, 403, 429)


def error_responses(*codes, common=True):
    """`responses=` entries of extend_schema for these error statuses, in the error shape."""
    wanted = sorted(set(codes) | (set(COMMON_ERRORS) if common else set()))
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in wanted
    }


def response_headers(**extra):
    """`parameters=` entries documenting response headers: Retry-After on 429 and the
    RateLimit-* headers, plus `extra` (name → (status codes, description))."""
    headers = [
        OpenApiParameter(
            "Retry-After",
            OpenApiTypes.INT,
            OpenApiParameter.HEADER,
            response=[429],
            description="Seconds to wait before the next request.",
        ),
    ]
    for name, (codes, description) in extra.items():
        headers.append(
            OpenApiParameter(
                name.replace("_", "-"),
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=list(codes),
                description=description,
            )
        )
    return headers
