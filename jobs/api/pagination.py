"""One keyset page as the list endpoints answer it (the cursor is jobs/keyset.py's)."""

from rest_framework import exceptions
from rest_framework.response import Response

from jobs.keyset import decode_cursor, first_page

PAGE_SIZE, MAX_PAGE_SIZE = 50, 200


def cursor_key(cursor):
    """The key a `?cursor=` names, or a 400 on `cursor`."""
    key = decode_cursor(cursor)
    if key is None:
        raise exceptions.ValidationError({"cursor": ["not a cursor this API gave out"]})
    return key


def page_response(request, rows, params, serialize):
    """One keyset page of `rows` as the list endpoints answer it: results, the next
    cursor and the next page's URL (null on the last page)."""
    after = cursor_key(params["cursor"]) if "cursor" in params else None
    page, next_cursor = first_page(rows, after, params["limit"])
    next_url = None
    if next_cursor:
        query_string = request.query_params.copy()
        query_string["cursor"] = next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query_string.urlencode()}")
    return Response({"results": serialize(page), "next_cursor": next_cursor, "next": next_url})
