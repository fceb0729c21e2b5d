"""notifications/ — the workspace's notification channels (SPEC §16). Admins only.

The rules are `jobs.automation.notifications.save_notification_channel`'s, the same for
the settings pages and the admin. A chat channel's URL is a credential (whoever has it
can post to the chat): it is written, never read back — answers show its host only.
"""

from urllib.parse import urlsplit

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from jobs.api.webhooks_serializers import TemplateIdSlugSerializer
from jobs.api.webhooks_views import ALL_ADMIN
from jobs.automation import notifications
from jobs.models.automation import NOTIFICATION_EVENTS, ChannelKind, NotificationChannel
from jobsite.api.errors import error_responses, not_found, response_headers
from jobsite.api.fields import StrictBooleanField, StrictCharField, StrictSerializer
from jobsite.api.views import WorkspaceAPIView
from templates_app.api import find_template

CHANNEL_ID = OpenApiParameter(
    "channel_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The channel's id."
)


def shown_target(channel: NotificationChannel) -> str:
    """Email addresses as they are; a chat URL as its scheme and host only."""
    if channel.kind == ChannelKind.CHAT:
        parts = urlsplit(channel.target)
        return f"{parts.scheme}://{parts.netloc}/…"
    return channel.target


class NotificationChannelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField()
    target = serializers.SerializerMethodField(
        help_text="Email addresses; for chat, the URL's host only."
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=NOTIFICATION_EVENTS))
    template = serializers.SerializerMethodField(
        help_text="Only this template's jobs; null: any template."
    )
    active = serializers.BooleanField(source="is_active")
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField())
    def get_target(self, channel):
        return shown_target(channel)

    @extend_schema_field(TemplateIdSlugSerializer(allow_null=True))
    def get_template(self, channel):
        if channel.template_id is None:
            return None
        return {"id": str(channel.template_id), "slug": channel.template.slug}


class NotificationChannelListSerializer(serializers.Serializer):
    results = NotificationChannelSerializer(many=True)


class NotificationChannelWriteSerializer(StrictSerializer):
    """A channel to add."""

    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = StrictCharField(max_length=100)
    target = StrictCharField(
        max_length=2000,
        help_text="Email addresses (comma-separated), or the chat's incoming-webhook URL.",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NOTIFICATION_EVENTS),
        help_text="One or more events to be told about.",
    )
    template = StrictCharField(
        required=False, allow_null=True, max_length=200, default=None,
        help_text="Id or slug of a template of this workspace: only its jobs. null: any template.",
    )  # fmt: skip
    active = StrictBooleanField(required=False, default=True)


class NotificationChannelUpdateSerializer(NotificationChannelWriteSerializer):
    """What to change in a channel: only the fields sent."""

    kind = serializers.ChoiceField(choices=ChannelKind.choices, required=False)
    name = StrictCharField(max_length=100, required=False)
    target = StrictCharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=NOTIFICATION_EVENTS), required=False
    )
    template = StrictCharField(required=False, allow_null=True, max_length=200)
    active = StrictBooleanField(required=False)


def save_channel(workspace, channel, data):
    """`save_notification_channel` with the API's names; a 400 naming every problem."""
    changes = {("is_active" if name == "active" else name): value for name, value in data.items()}
    if changes.get("template") is not None:
        template = find_template(workspace, changes["template"])
        if template is None:
            raise exceptions.ValidationError({"template": [notifications.NO_SUCH_TEMPLATE]})
        changes["template"] = template
    try:
        return notifications.save_notification_channel(channel, **changes)
    except notifications.NotificationChannelInvalid as exc:
        raise exceptions.ValidationError(exc.errors) from None


class NotificationAPIView(WorkspaceAPIView):
    required_roles = ALL_ADMIN

    def channels(self):
        return NotificationChannel.objects.filter(workspace=self.workspace).select_related(
            "template"
        )

    def get_channel(self, channel_id):
        channel = self.channels().filter(pk=channel_id).first()
        if channel is None:
            raise not_found()
        return channel


class NotificationChannelListView(NotificationAPIView):
    @extend_schema(
        operation_id="notifications_list",
        summary="List notification channels (admin)",
        parameters=response_headers(),
        responses={200: NotificationChannelListSerializer, **error_responses()},
        tags=["notifications"],
    )
    def get(self, request):
        return Response(
            {
                "results": NotificationChannelSerializer(
                    self.channels().order_by("name", "pk"), many=True
                ).data
            }
        )

    @extend_schema(
        operation_id="notifications_create",
        summary="Add a notification channel (admin)",
        description="Email (Django's mail backend) or a Slack-compatible incoming webhook. Messages "
        "name the job, its status, the failing step, its error and the job page's URL.",
        request=NotificationChannelWriteSerializer,
        parameters=response_headers(Location=((201,), "The new channel's URL.")),
        responses={201: NotificationChannelSerializer, **error_responses(413, 415)},
        tags=["notifications"],
    )
    def post(self, request):
        serializer = NotificationChannelWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = save_channel(
            self.workspace, NotificationChannel(workspace=self.workspace), serializer.validated_data
        )
        location = request.build_absolute_uri(reverse("api-notification-detail", args=[channel.pk]))
        return Response(
            NotificationChannelSerializer(channel).data, status=201, headers={"Location": location}
        )


class NotificationChannelDetailView(NotificationAPIView):
    @extend_schema(
        operation_id="notifications_retrieve",
        summary="One notification channel (admin)",
        parameters=[CHANNEL_ID] + response_headers(),
        responses={200: NotificationChannelSerializer, **error_responses(404)},
        tags=["notifications"],
    )
    def get(self, request, channel_id):
        return Response(NotificationChannelSerializer(self.get_channel(channel_id)).data)

    @extend_schema(
        operation_id="notifications_update",
        summary="Change a notification channel (admin)",
        request=NotificationChannelUpdateSerializer,
        parameters=[CHANNEL_ID] + response_headers(),
        responses={200: NotificationChannelSerializer, **error_responses(404, 413, 415)},
        tags=["notifications"],
    )
    def patch(self, request, channel_id):
        channel = self.get_channel(channel_id)
        serializer = NotificationChannelUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = save_channel(self.workspace, channel, serializer.validated_data)
        return Response(NotificationChannelSerializer(channel).data)

    @extend_schema(
        operation_id="notifications_delete",
        summary="Delete a notification channel (admin)",
        parameters=[CHANNEL_ID] + response_headers(),
        responses={
            204: OpenApiResponse(description="Deleted, with its deliveries."),
            **error_responses(404),
        },
        tags=["notifications"],
    )
    def delete(self, request, channel_id):
        self.get_channel(channel_id).delete()
        return Response(status=204)
