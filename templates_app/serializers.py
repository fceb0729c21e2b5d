"""How templates look in the API, and what the template endpoints accept.

A secret variable's default never leaves the server in a representation: it reads
"***" (the YAML `source` is shown to admins only, for the same reason)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobsite.api.fields import ObjectField, StrictCharField, StrictSerializer
from jobsite.secrets import MASK
from templates_app.models import trigger_enabled


def masked_declarations(declarations):
    masked = {}
    for name, declaration in (declarations or {}).items():
        declaration = dict(declaration)
        if declaration.get("type") == "secret" and declaration.get("default") not in (None, ""):
            declaration["default"] = MASK
        masked[name] = declaration
    return masked


def _absolute(request, name, *args):
    path = reverse(name, args=args)
    return request.build_absolute_uri(path) if request is not None else path


class VariableSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(
        required=False, help_text='Absent when there is none; "***" for a secret.'
    )
    description = serializers.CharField()


class TemplateLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    schema = serializers.URLField()
    validate = serializers.URLField()


class TemplateSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    version = serializers.SerializerMethodField()
    variables = serializers.SerializerMethodField()
    trigger_url_enabled = serializers.SerializerMethodField()
    archived = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()
    links = serializers.SerializerMethodField()

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_version(self, template):
        return template.current_version.number if template.current_version_id else None

    @extend_schema_field(VariableSummarySerializer(many=True))
    def get_variables(self, template):
        summary = []
        for name, declaration in masked_declarations(template.definition.get("variables")).items():
            item = {
                "name": name,
                "type": declaration["type"],
                "required": declaration.get("required", False),
                "description": declaration.get("description", ""),
            }
            if "default" in declaration:
                item["default"] = declaration["default"]
            summary.append(item)
        return summary

    @extend_schema_field(serializers.BooleanField())
    def get_trigger_url_enabled(self, template):
        return trigger_enabled(template.definition)

    @extend_schema_field(serializers.BooleanField())
    def get_archived(self, template):
        return template.archived_at is not None

    @extend_schema_field(TemplateLinksSerializer())
    def get_links(self, template):
        request = self.context.get("request")
        return {
            "self": _absolute(request, "api-template-detail", template.pk),
            "schema": _absolute(request, "api-template-schema", template.pk),
            "validate": _absolute(request, "api-template-validate", template.pk),
        }


class TriggerUrlSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    has_key = serializers.BooleanField(
        help_text="Whether a trigger key was issued (POST trigger-key/)."
    )
    url = serializers.URLField()


class TemplateSerializer(TemplateSummarySerializer):
    """A template with its variables, steps and settings (its current version)."""

    variables = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    settings = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    trigger_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    archived_at = serializers.DateTimeField(allow_null=True)
    source = serializers.SerializerMethodField(
        help_text="The YAML or JSON as written; admins only."
    )

    @extend_schema_field(
        serializers.DictField(child=ObjectField(), help_text="Declarations by name.")
    )
    def get_variables(self, template):
        return masked_declarations(template.definition.get("variables"))

    @extend_schema_field(serializers.ListField(child=ObjectField()))
    def get_steps(self, template):
        return template.definition.get("steps", [])

    @extend_schema_field(ObjectField())
    def get_settings(self, template):
        return template.definition.get("settings") or {}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_result(self, template):
        return template.definition.get("result") or None

    @extend_schema_field(TriggerUrlSerializer())
    def get_trigger_url(self, template):
        request = self.context.get("request")
        path = reverse("api-hook-trigger", args=[template.workspace.slug, template.slug])
        return {
            "enabled": trigger_enabled(template.definition),
            "has_key": bool(template.trigger_key_hash),
            "url": request.build_absolute_uri(path) if request is not None else path,
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_source(self, template):
        if not self.context.get("show_source") or not template.current_version_id:
            return None
        return template.current_version.source or None


class TemplateListSerializer(serializers.Serializer):
    results = TemplateSummarySerializer(many=True)


class TemplateWriteSerializer(StrictSerializer):
    """A template definition, as text or as an object."""

    source = StrictCharField(
        required=False,
        trim_whitespace=False,
        help_text="The template as YAML or JSON text (SPEC §3).",
    )
    definition = ObjectField(required=False, help_text="The template as a JSON object.")

    def validate(self, data):
        if ("source" in data) == ("definition" in data):
            raise serializers.ValidationError(
                {"source": ["give either source (YAML/JSON text) or definition (an object)"]}
            )
        return data


class TemplateValidateSerializer(StrictSerializer):
    """The input a job would be created with."""

    variables = ObjectField(required=False)
    params = serializers.DictField(child=ObjectField(), required=False)


class TemplateValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field path → messages.",
    )
    variables = ObjectField(
        help_text='The values a job would get (defaults filled in, secrets "***").'
    )
    params = serializers.DictField(child=ObjectField())


class TemplateSchemaSerializer(serializers.Serializer):
    template = serializers.DictField(child=serializers.JSONField())
    variables = ObjectField(help_text="JSON Schema (2020-12) of `variables`.")
    params = ObjectField(help_text="JSON Schema (2020-12) of `params`.")


class TriggerKeySerializer(serializers.Serializer):
    key = serializers.CharField(
        help_text="The raw trigger key (jtk_…), shown once; the old one stops working."
    )
    trigger_url = serializers.URLField()
