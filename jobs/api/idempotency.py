"""`Idempotency-Key` for POSTs that create jobs (SPEC §6.6).

Same key + same request within JOBSITE_API_IDEMPOTENCY_HOURS in the same workspace → the
original response again, byte for byte, with `Idempotent-Replayed: true`. Same key +
another request → 409. Concurrent duplicates create one job: the record is inserted in
the transaction that creates the job, under a unique (workspace, key) constraint, so the
losers of the race fail on the insert, roll back, and replay the winner's response.

Only successful (2xx) responses are kept: a request refused for bad input can be fixed
and sent again with the same key.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions

from jobs.models import IdempotencyRecord
from jobsite.api.errors import Conflict

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def idempotency_key(request):
    raw = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise exceptions.ValidationError(
            {HEADER: [f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"]}
        )
    return key


def fingerprint(request, payload):
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    text = f"{request.method} {request.path}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _cutoff():
    return timezone.now() - timedelta(hours=settings.JOBSITE_API_IDEMPOTENCY_HOURS)


def _replay(record, expected_fingerprint):
    if record.fingerprint != expected_fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request; use a new key.",
            code="idempotency_key_reused",
        )
    response = HttpResponse(
        record.body, status=record.status_code, content_type=record.content_type
    )
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


class _NotKept(Exception):
    def __init__(self, response):
        self.response = response


def respond_once(request, workspace, payload, make_response):
    """Run `make_response()` → (HttpResponse, job or None) at most once per key.

    Without an Idempotency-Key it simply runs: the verbs it calls write in their own
    transaction, after their checks, so the reads and checks before are not inside one
    (on SQLite a transaction holds the database's one write lock from its start)."""
    key = idempotency_key(request)
    if key is None:
        return make_response()[0]
    expected = fingerprint(request, payload)
    for _ in range(5):
        record = IdempotencyRecord.objects.filter(
            workspace=workspace, key=key, created_at__gte=_cutoff()
        ).first()
        if record is not None:
            return _replay(record, expected)
        try:
            with transaction.atomic():
                # An expired record with this key would block the insert: it is forgotten.
                IdempotencyRecord.objects.filter(created_at__lt=_cutoff()).delete()
                record = IdempotencyRecord.objects.create(
                    workspace=workspace,
                    key=key,
                    fingerprint=expected,
                    status_code=0,
                    content_type="",
                )
                response, job = make_response()
                if not 200 <= response.status_code < 300:
                    raise _NotKept(response)
                record.status_code = response.status_code
                record.content_type = response["Content-Type"]
                record.body = response.content.decode("utf-8")
                record.location = response.get("Location", "")
                record.job = job
                record.save(
                    update_fields=["status_code", "content_type", "body", "location", "job"]
                )
            return response
        except _NotKept as refused:
            return refused.response
        except IntegrityError:
            continue  # another request with this key committed first: replay its answer
    raise Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        code="idempotency_in_progress",
    )
