"""Serializer pieces that accept exactly what the OpenAPI schema says.

DRF's fields are forgiving ("1" is a boolean, 7 is a string); an API whose schema promises
types must refuse what does not match them, and a misspelt field must be an error rather
than silently dropped (SPEC §2: "unknown ... are rejected, never silently dropped")."""

from collections.abc import Mapping

from django.core.validators import URLValidator
from rest_framework import serializers

from jobsite.egress import url_problem


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                allowed = ", ".join(self.fields) or "none"
                raise serializers.ValidationError(
                    {name: [f"unknown field; allowed fields: {allowed}"] for name in unknown}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictURLField(serializers.URLField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class OutboundURLField(StrictURLField):
    """A URL the server will send to for a user (webhook endpoint, callback_url): http or
    https only (DRF's URLField also takes ftp), and a destination the egress policy
    allows (jobsite.egress), checked once the URL itself is valid."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)] + [
            URLValidator(schemes=["http", "https"], message="Enter a valid http or https URL.")
        ]

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        if value and (problem := url_problem(value)):
            raise serializers.ValidationError(problem, code="egress")
        return value


class ObjectField(serializers.DictField):
    """A JSON object with any values (variables, outputs, a recipe)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.JSONField())
        super().__init__(**kwargs)


class ErrorSerializer(serializers.Serializer):
    """The one error shape (SPEC §6.5)."""

    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(
        help_text="What went wrong, for a program: invalid, not_authenticated, authentication_failed, "
        "permission_denied, workspace_required, not_found, method_not_allowed, conflict, "
        "request_too_large, unsupported_media_type, parse_error, throttled, …"
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text='Validation problems only: field path → messages, e.g. {"variables.days": ["expected an integer"]}.',
    )


class QuerySerializer(serializers.Serializer):
    """Query parameters, read strictly: a parameter given empty or more than once is an
    error, not silently taken as absent (or as its last value)."""

    def __init__(self, query_params, **kwargs):
        super().__init__(data=query_params, **kwargs)

    def to_internal_value(self, data):
        errors = {}
        for name in self.fields:
            if name not in data:
                continue
            values = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
            if len(values) > 1:
                errors[name] = ["give this parameter once"]
            elif values[0] == "":
                errors[name] = ["must not be empty"]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
