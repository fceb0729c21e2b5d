"""Text that cannot be stored is refused at the door (SPEC §15).

PostgreSQL's text and jsonb cannot hold a NUL character (U+0000), and no UTF-8 database
can hold a lone surrogate (U+D800–U+DFFF, which JSON's "\\ud800" escape produces). Let
through, either one made the database driver raise, and the client got a 500 (issue
12: 6 of 14 probes). They are refused once, where input enters: the JSON and YAML body
parsers (jobsite/api/parsers.py) and, for query strings (every URL) and URL-encoded form
posts (the trigger URL's body, the pages' and the admin's forms),
UnstorableTextMiddleware. The answer is a 400 naming the field, on every database.
Multipart page posts are checked once their view is known (process_view), except for
views marked `streams_uploads` (a page's start form with a file): those set their own
upload handlers before the body is parsed, and their text fields are Django form fields,
which refuse a NUL themselves (ProhibitNullCharactersValidator). The API's one multipart
endpoint, POST uploads/, streams too; every other API view parses JSON or YAML only.
"""

import html
import json

from django.conf import settings
from django.http import HttpResponse, QueryDict

NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"
SURROGATE_MESSAGE = "contains a lone surrogate (\\ud800–\\udfff), which is not valid text"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def unstorable_text(value, path: str = "") -> tuple[str, str] | None:
    """(field path, message) for the first string in `value` (JSON data: dicts, lists,
    strings; dict keys too) that cannot be stored, else None. Iterative: deep data does
    not hit the recursion limit."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if problem := _text_problem(item):
                return where or "body", problem
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and (problem := _text_problem(key)):
                    return (where or "body"), f"has a key that {problem}"
                stack.append((child, child_path))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return None


def _query_problem(query) -> tuple[str, str] | None:
    for name in query:
        if problem := _text_problem(name):
            return "query", f"has a parameter name that {problem}"
        for value in query.getlist(name):
            if problem := _text_problem(value):
                return name, problem
    return None


def _small_form(request) -> QueryDict:
    """The URL-encoded body as a QueryDict, read from `request.body` (not request.POST:
    a view may still set its own upload handlers) and only when it is small enough to be
    a form; a larger body is left to its view and its limits."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return QueryDict()
    if not 0 < length <= (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440):
        return QueryDict()
    return QueryDict(request.body, encoding=request.encoding)


class UnstorableTextMiddleware:
    """400 for a query string or a URL-encoded form post holding text that cannot be
    stored."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        found = _query_problem(request.GET)
        if (
            found is None
            and request.method == "POST"
            and request.content_type == "application/x-www-form-urlencoded"
        ):
            found = _query_problem(_small_form(request))
        if found is None:
            return self.get_response(request)
        return _refusal(request, found)

    def process_view(self, request, view_func, view_args, view_kwargs):
        """A multipart page post (a browser sends one for any form, a client may send one
        where the page expects URL-encoded) is checked like a URL-encoded one, unless its
        view streams uploads and must parse the body itself."""
        if (
            request.method != "POST"
            or request.content_type != "multipart/form-data"
            or request.path.startswith("/api/")
            or streams_uploads(view_func)
        ):
            return None
        found = _query_problem(request.POST)
        return _refusal(request, found) if found else None


def streams_uploads(view_func) -> bool:
    """True for a view marked `streams_uploads = True` (a function view, or a class view's
    class): it sets its own upload handlers, so nothing may read its body before it."""
    view_class = getattr(view_func, "view_class", None)
    return bool(
        getattr(view_func, "streams_uploads", False)
        or getattr(view_class, "streams_uploads", False)
    )


def _refusal(request, found: tuple[str, str]) -> HttpResponse:
    field, message = found
    if request.path.startswith("/api/hooks/"):
        # The trigger URL answers in plain text (SPEC §6.4), its refusals too.
        text = f"The request holds text that cannot be stored.\n{field}: {message}\n"
        return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
    if request.path.startswith("/api/"):
        body = {
            "detail": f"{field}: {message}",
            "code": "invalid",
            "errors": {field: [message]},
        }
        return HttpResponse(json.dumps(body), status=400, content_type="application/json")
    text = f"The field “{field}” {message}. Go back, correct it and submit again."
    return HttpResponse(
        f"<!doctype html><html lang=en><title>Bad request</title><h1>Bad request</h1><p>{html.escape(text)}</p></html>",
        status=400,
        content_type="text/html; charset=utf-8",
    )
