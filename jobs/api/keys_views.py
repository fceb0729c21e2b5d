"""keys/ — the workspace's API keys (admin), and workspace/ — who am I here."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response

from jobs.automation.webhooks import workspace_callback_secret
from jobsite.api.auth import ApiKeyUser
from jobsite.api.errors import error_responses, not_found, response_headers
from jobsite.api.fields import StrictCharField, StrictSerializer
from jobsite.api.views import WorkspaceAPIView
from jobsite.models import ApiKey, Role

KEY_ID = OpenApiParameter(
    "key_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The key's id."
)


class KeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    prefix = serializers.CharField(help_text="The first characters of the key, to tell keys apart.")
    created_at = serializers.DateTimeField()
    created_by = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="Updated at most once a minute."
    )
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField(source="is_active")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, key):
        return key.created_by.get_username() if key.created_by_id else None


class KeyCreatedSerializer(KeySerializer):
    key = serializers.CharField(
        help_text="The raw key (jsk_…). Shown in this response only: store it now."
    )


class KeyCreateSerializer(StrictSerializer):
    """A key to issue."""

    name = StrictCharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.OPERATOR, required=False)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Empty: never expires."
    )

    def validate_name(self, value):
        if not value.strip():
            raise serializers.ValidationError("must not be blank")
        return value.strip()

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class KeyListSerializer(serializers.Serializer):
    results = KeySerializer(many=True)


def workspace_keys(workspace):
    return (
        ApiKey.objects.filter(workspace=workspace)
        .select_related("created_by")
        .order_by("-created_at", "-pk")
    )


class KeyListView(WorkspaceAPIView):
    required_roles = {"GET": Role.ADMIN, "POST": Role.ADMIN}

    @extend_schema(
        operation_id="keys_list",
        summary="List API keys (admin)",
        parameters=response_headers(),
        responses={200: KeyListSerializer, **error_responses()},
        tags=["keys"],
    )
    def get(self, request):
        return Response({"results": KeySerializer(workspace_keys(self.workspace), many=True).data})

    @extend_schema(
        operation_id="keys_create",
        summary="Create an API key (admin)",
        description="The raw key is in this response only; jobsite keeps its hash.",
        request=KeyCreateSerializer,
        parameters=response_headers(),
        responses={201: KeyCreatedSerializer, **error_responses(413, 415)},
        tags=["keys"],
    )
    def post(self, request):
        serializer = KeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user if not isinstance(request.user, ApiKeyUser) else None
        key, raw = ApiKey.issue(
            self.workspace,
            data["name"],
            role=data["role"],
            expires_at=data.get("expires_at"),
            created_by=user,
        )
        key = workspace_keys(self.workspace).get(pk=key.pk)
        return Response({**KeySerializer(key).data, "key": raw}, status=201)


class KeyDetailView(WorkspaceAPIView):
    required_roles = {"GET": Role.ADMIN, "DELETE": Role.ADMIN}

    def get_key(self, key_id):
        key = workspace_keys(self.workspace).filter(pk=key_id).first()
        if key is None:
            raise not_found()
        return key

    @extend_schema(
        operation_id="keys_retrieve",
        summary="One API key (admin)",
        parameters=[KEY_ID] + response_headers(),
        responses={200: KeySerializer, **error_responses(404)},
        tags=["keys"],
    )
    def get(self, request, key_id):
        return Response(KeySerializer(self.get_key(key_id)).data)

    @extend_schema(
        operation_id="keys_revoke",
        summary="Revoke an API key (admin)",
        description="The key stops working with the next request.",
        parameters=[KEY_ID] + response_headers(),
        responses={204: OpenApiResponse(description="Revoked."), **error_responses(404)},
        tags=["keys"],
    )
    def delete(self, request, key_id):
        self.get_key(key_id).revoke()
        return Response(status=204)


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role here.")
    actor = serializers.CharField(
        help_text='Who you are, as recorded in jobs\' created_by ("key:…" or "user:…").'
    )
    callback_secret = serializers.CharField(
        required=False,
        help_text="Admins only: the secret that signs job callback_url deliveries, the workspace's own "
        "(never a webhook endpoint's). See docs/webhooks.md.",
    )


class WorkspaceView(WorkspaceAPIView):
    @extend_schema(
        operation_id="workspace_retrieve",
        summary="Your workspace and role",
        parameters=response_headers(),
        responses={200: WorkspaceSerializer, **error_responses()},
        tags=["workspace"],
    )
    def get(self, request):
        workspace = self.workspace
        body = {
            "id": str(workspace.pk),
            "slug": workspace.slug,
            "name": workspace.name,
            "role": self.tenant.role,
            "actor": self.tenant.actor,
        }
        if self.tenant.is_admin:
            body["callback_secret"] = workspace_callback_secret(workspace.pk)
        return Response(body)
