"""How webhook endpoints and their deliveries look in the API, and what its webhooks/
endpoints accept (SPEC §10; the views are webhooks_views.py). The rules are
`jobs.automation.webhooks`'s: these fields only parse and name the problems."""

from django.core.validators import URLValidator
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from jobs.api.pagination import MAX_PAGE_SIZE, PAGE_SIZE
from jobs.automation import webhooks
from jobs.models.automation import WEBHOOK_EVENTS, DeliveryStatus
from jobsite.api.fields import (
    QuerySerializer,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
    StrictURLField,
)

# --- how they look --------------------------------------------------------------------------


class TemplateIdSlugSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()


class WebhookSerializer(serializers.Serializer):
    """A webhook endpoint, without its secret."""

    id = serializers.UUIDField()
    url = serializers.URLField()
    description = serializers.CharField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS), help_text="Empty: every event."
    )
    template = serializers.SerializerMethodField(
        help_text="Only events of this template's jobs; null: any template."
    )
    active = serializers.BooleanField(
        source="is_active", help_text="An inactive endpoint is sent nothing."
    )
    disabled_reason = serializers.SerializerMethodField(
        help_text="Why jobsite disabled it (a 410 Gone), if it did."
    )
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="After a rotation: until when the previous secret still signs beside the new one."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(TemplateIdSlugSerializer(allow_null=True))
    def get_template(self, endpoint):
        if endpoint.template_id is None:
            return None
        return {"id": str(endpoint.template_id), "slug": endpoint.template.slug}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_disabled_reason(self, endpoint):
        return endpoint.disabled_reason or None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_previous_secret_expires_at(self, endpoint):
        expires = endpoint.previous_secret_expires_at
        if not endpoint.previous_secret or expires is None or expires <= timezone.now():
            return None
        return serializers.DateTimeField().to_representation(expires)


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_…). Shown in this response only: store it now."
    )


class WebhookListSerializer(serializers.Serializer):
    results = WebhookSerializer(many=True)


class DeliveryAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(
        allow_null=True, help_text="null: no answer (see error)."
    )
    duration_ms = serializers.IntegerField()
    response_excerpt = serializers.CharField(help_text="The first 500 characters of the answer.")
    error = serializers.SerializerMethodField(
        help_text="Why there was no answer (timeout, refused, …)."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, attempt):
        return attempt.error or None


class DeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    message_id = serializers.CharField(help_text="The webhook-id header it is sent with.")
    event = serializers.CharField()
    job_id = serializers.UUIDField(allow_null=True)
    url = serializers.URLField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    last_status_code = serializers.IntegerField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When a pending delivery is tried next."
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    attempts = DeliveryAttemptSerializer(
        many=True, source="attempt_log.all", help_text="Oldest first."
    )


class DeliveryPageSerializer(serializers.Serializer):
    results = DeliverySerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next (older) page."
    )
    next = serializers.URLField(allow_null=True)


# --- what they accept -----------------------------------------------------------------------


class HttpURLField(StrictURLField):
    """A URL as parsed by DRF, checked by the endpoints' own rule (http or https only), so
    a bad one is named with the other problems of the request."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, URLValidator)]
        self.validators.append(webhooks.WEBHOOK_URL_VALIDATOR)


class EventsField(serializers.ListField):
    """Events to send (the schema's enum), checked by the endpoints' own rule."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=WEBHOOK_EVENTS), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if problem := webhooks.unknown_events_problem(data):
            raise serializers.ValidationError(problem)
        return list(data)


class WebhookWriteSerializer(StrictSerializer):
    """A webhook endpoint to add, or (PATCH) what to change in one."""

    url = HttpURLField(
        max_length=2000,
        help_text="Where events are POSTed (http or https), signed as Standard Webhooks.",
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    events = EventsField(required=False, default=list, help_text="Empty or left out: every event.")
    template = StrictCharField(
        required=False,
        allow_null=True,
        max_length=200,
        default=None,
        help_text="Id or slug of a template of this workspace: only its jobs' events. null: any template.",
    )
    active = StrictBooleanField(
        required=False,
        default=True,
        help_text="false: send nothing. Setting it true clears disabled_reason.",
    )


class WebhookUpdateSerializer(WebhookWriteSerializer):
    """What to change in a webhook endpoint: only the fields sent."""

    url = HttpURLField(
        required=False, max_length=2000, help_text="Where events are POSTed (http or https)."
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=200)
    events = EventsField(required=False, help_text="Empty: every event.")
    template = StrictCharField(
        required=False,
        allow_null=True,
        max_length=200,
        help_text="Id or slug of a template of this workspace: only its jobs' events. null: any template.",
    )
    active = StrictBooleanField(
        required=False, help_text="false: send nothing. true clears disabled_reason."
    )


class DeliveryListQuery(QuerySerializer):
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=PAGE_SIZE
    )
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)


DELIVERY_PARAMETERS = [
    OpenApiParameter(
        "cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page (opaque)."
    ),
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"Deliveries per page, 1–{MAX_PAGE_SIZE} (default {PAGE_SIZE}).",
    ),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        enum=DeliveryStatus.values,
        description="Only deliveries in this state.",
    ),
]
