"""Reading request bodies without surprises: a size limit (413), strict UTF-8, no NaN, a
depth limit for nested JSON, and content negotiation that never fails with 406."""

import json

from django.conf import settings
from django.http import QueryDict
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser

from jobsite.api.errors import RequestTooLarge
from jobsite.text_input import unstorable_text


def read_limited(stream, request):
    """The whole body as bytes; 413 beyond JOBSITE_API_MAX_BODY_BYTES (by the declared
    Content-Length when there is one, and by what is actually read in any case)."""
    limit = settings.JOBSITE_API_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    try:
        if declared and int(declared) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.") from None
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    return data


def decode_utf8(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.ParseError(
            f"The request body is not valid UTF-8 (byte {exc.start})."
        ) from None


def refuse_unstorable_text(value, path=""):
    """A 400 naming the field when `value` holds a NUL or a lone surrogate (SPEC §15)."""
    if found := unstorable_text(value, path):
        field, message = found
        raise exceptions.ValidationError({field: [message]})
    return value


def json_depth(value):
    """How deeply `value` nests, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def load_json(text):
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise exceptions.ParseError("The JSON body is nested too deeply.") from None
    except ValueError as exc:
        raise exceptions.ParseError(f"The request body is not valid JSON: {exc}") from None
    limit = settings.JOBSITE_API_MAX_JSON_DEPTH
    if json_depth(value) > limit:
        raise exceptions.ParseError(f"The JSON body is nested too deeply (at most {limit} levels).")
    return value


class LimitedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        data = read_limited(stream, request)
        if not data.strip():
            return {}
        return refuse_unstorable_text(load_json(decode_utf8(data)))


class LenientContentNegotiation(DefaultContentNegotiation):
    """An Accept header no renderer matches gets the default (JSON) instead of 406: a
    client that asks for something odd still gets a readable answer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            renderer = renderers[0]
            return renderer, renderer.media_type


class FirstRendererNegotiation(DefaultContentNegotiation):
    """For views that choose their own content type (logs, result, downloads): errors are
    always rendered by the first renderer (JSON), whatever the Accept header says."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class YamlTextParser(BaseParser):
    """A template sent as the raw body (`Content-Type: application/yaml`), e.g. with
    `curl --data-binary @template.yaml`. Reads as {"source": text}."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        return refuse_unstorable_text({"source": decode_utf8(read_limited(stream, request))})


class TextYamlParser(YamlTextParser):
    media_type = "text/yaml"


class LimitedFormParser(BaseParser):
    """application/x-www-form-urlencoded under the same size limit (trigger URLs)."""

    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):

        request = (parser_context or {}).get("request")
        return QueryDict(decode_utf8(read_limited(stream, request)))
