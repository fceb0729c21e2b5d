"""Keyset paging over (created_at, pk), the one cursor of jobsite: the API's job list and
webhook deliveries and the jobs page all page with it, in one format on the wire.

A cursor names the row a page starts after: base64url (unpadded) of the JSON array
`[created_at ISO 8601, pk]`. Keyset paging stays fast at any depth and never shows a row
twice or skips one when new rows arrive while someone pages."""

import base64
import binascii
import json
import uuid
from datetime import datetime

from django.db.models import Model, Q, QuerySet

Key = tuple[datetime, uuid.UUID]


def encode_cursor(row: Model) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Key | None:
    """(created_at, pk) of the row named by `token`, or None when it is not a cursor
    jobsite gave out."""
    try:
        created_at, pk = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return datetime.fromisoformat(created_at), uuid.UUID(pk)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


def older_than(rows: QuerySet, key: Key) -> QuerySet:
    """The rows after `key` newest first (order them by -created_at, -pk)."""
    created_at, pk = key
    return rows.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))


def newer_than(rows: QuerySet, key: Key) -> QuerySet:
    """The rows before `key` newest first (order them by created_at, pk)."""
    created_at, pk = key
    return rows.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk))


def first_page(rows: QuerySet, after: Key | None, limit: int) -> tuple[list, str | None]:
    """Up to `limit` rows newest first, after the `after` key; and the next page's cursor
    (None on the last page)."""
    if after is not None:
        rows = older_than(rows, after)
    page = list(rows.order_by("-created_at", "-pk")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (encode_cursor(page[-1]) if more else None)
