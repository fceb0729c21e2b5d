"""webhooks/ — the workspace's webhook endpoints and their deliveries (SPEC §10). Admins
only, for reading too.

The rules are `jobs.automation.webhooks.save_webhook_endpoint`'s, the same for the
settings pages and the admin: the URL is http or https, the events are WEBHOOK_EVENTS
(none: every event), the template filter is a live template of this workspace (or the
one the endpoint already has, even if archived since), and activating an endpoint clears
why it was disabled. The signing secret
appears in two responses only: the creation's and each rotation's
(`jobs.automation.webhooks.rotate_secret`: the old secret keeps signing beside the new one for
24 h). Redelivery is `jobs.automation.webhooks.redeliver`: a new delivery, sent by a worker.
How they look and what they accept: webhooks_serializers.py.
"""

from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from jobs.api.pagination import page_response
from jobs.api.webhooks_serializers import (
    DELIVERY_PARAMETERS,
    DeliveryListQuery,
    DeliveryPageSerializer,
    DeliverySerializer,
    WebhookListSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
    WebhookWriteSerializer,
)
from jobs.automation import webhooks
from jobs.models.automation import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from jobsite.api.errors import error_responses, not_found, response_headers
from jobsite.api.views import WorkspaceAPIView, require_no_body
from jobsite.models import Role
from templates_app.api import find_template

WEBHOOK_ID = OpenApiParameter(
    "webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The endpoint's id."
)
DELIVERY_ID = OpenApiParameter(
    "delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The delivery's id."
)
# Reading too: HEAD and OPTIONS are not left to the viewer default.
ALL_ADMIN = {method: Role.ADMIN for method in ("GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE")}
NO_SUCH_TEMPLATE = webhooks.NO_SUCH_TEMPLATE


# --- lookups --------------------------------------------------------------------------------


def workspace_webhooks(workspace):
    """Endpoints of `workspace` — the only way these views reach one."""
    return WebhookEndpoint.objects.filter(workspace=workspace).select_related("template")


def attempts_prefetch():
    return Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))


def save_endpoint(workspace, endpoint, data):
    """`save_webhook_endpoint` with the API's names; a 400 naming every problem. A template
    reference that finds nothing is the same 400 for another workspace's template as for
    one that never existed."""
    changes = {("is_active" if name == "active" else name): value for name, value in data.items()}
    if changes.get("template") is not None:
        template = find_template(workspace, changes["template"])
        if template is None:
            raise exceptions.ValidationError({"template": [NO_SUCH_TEMPLATE]})
        changes["template"] = template
    try:
        return webhooks.save_webhook_endpoint(endpoint, **changes)
    except webhooks.WebhookEndpointInvalid as exc:
        raise exceptions.ValidationError(exc.errors) from None


class WebhookAPIView(WorkspaceAPIView):
    required_roles = ALL_ADMIN

    def get_webhook(self, webhook_id):
        endpoint = workspace_webhooks(self.workspace).filter(pk=webhook_id).first()
        if endpoint is None:
            raise not_found()
        return endpoint

    def with_secret(self, endpoint):
        endpoint = self.get_webhook(endpoint.pk)
        return {**WebhookSerializer(endpoint).data, "secret": endpoint.secret}


# --- the endpoints --------------------------------------------------------------------------


class WebhookListView(WebhookAPIView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints (admin)",
        description="Newest first. Secrets are never listed.",
        parameters=response_headers(),
        responses={200: WebhookListSerializer, **error_responses()},
        tags=["webhooks"],
    )
    def get(self, request):
        endpoints = workspace_webhooks(self.workspace).order_by("-created_at", "-pk")
        return Response({"results": WebhookSerializer(endpoints, many=True).data})

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add a webhook endpoint (admin)",
        description="The signing secret (`whsec_…`) is in this response only; jobsite keeps it to "
        "sign, and shows it again to nobody.",
        request=WebhookWriteSerializer,
        parameters=response_headers(Location=((201,), "The new endpoint's URL.")),
        responses={201: WebhookWithSecretSerializer, **error_responses(413, 415)},
        tags=["webhooks"],
    )
    def post(self, request):
        serializer = WebhookWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = save_endpoint(
            self.workspace, WebhookEndpoint(workspace=self.workspace), serializer.validated_data
        )
        location = request.build_absolute_uri(reverse("api-webhook-detail", args=[endpoint.pk]))
        return Response(self.with_secret(endpoint), status=201, headers={"Location": location})


class WebhookDetailView(WebhookAPIView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook endpoint (admin)",
        parameters=[WEBHOOK_ID] + response_headers(),
        responses={200: WebhookSerializer, **error_responses(404)},
        tags=["webhooks"],
    )
    def get(self, request, webhook_id):
        return Response(WebhookSerializer(self.get_webhook(webhook_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint (admin)",
        description="Only the fields sent change. An endpoint that is active after the change "
        "has its `disabled_reason` cleared. The secret does not change (see rotate-secret/).",
        request=WebhookUpdateSerializer,
        parameters=[WEBHOOK_ID] + response_headers(),
        responses={200: WebhookSerializer, **error_responses(404, 413, 415)},
        tags=["webhooks"],
    )
    def patch(self, request, webhook_id):
        endpoint = self.get_webhook(webhook_id)
        serializer = WebhookUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        save_endpoint(self.workspace, endpoint, serializer.validated_data)
        return Response(WebhookSerializer(self.get_webhook(endpoint.pk)).data)

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Delete a webhook endpoint (admin)",
        description="It is sent nothing from now on; its deliveries and their attempts are deleted "
        "with it. (PATCH `active: false` instead keeps the log.)",
        parameters=[WEBHOOK_ID] + response_headers(),
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
        tags=["webhooks"],
    )
    def delete(self, request, webhook_id):
        self.get_webhook(webhook_id).delete()
        return Response(status=204)


class WebhookRotateSecretView(WebhookAPIView):
    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Rotate a webhook endpoint's signing secret (admin)",
        description="A new secret, in this response only. The previous one keeps signing beside it "
        "for 24 hours (`webhook-signature` then carries two signatures) until "
        "`previous_secret_expires_at`, so the receiver can switch at its pace.",
        request=None,
        parameters=[WEBHOOK_ID] + response_headers(),
        responses={200: WebhookWithSecretSerializer, **error_responses(404, 413, 415)},
        tags=["webhooks"],
    )
    def post(self, request, webhook_id):
        endpoint = self.get_webhook(webhook_id)
        require_no_body(request)
        webhooks.rotate_secret(endpoint)
        return Response(self.with_secret(endpoint))


class WebhookDeliveryListView(WebhookAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="An endpoint's deliveries, newest first, with every attempt (admin)",
        description="Keyset-paginated like jobs/: follow `next_cursor` until it is null.",
        parameters=[WEBHOOK_ID] + DELIVERY_PARAMETERS + response_headers(),
        responses={200: DeliveryPageSerializer, **error_responses(404)},
        tags=["webhooks"],
    )
    def get(self, request, webhook_id):
        endpoint = self.get_webhook(webhook_id)
        query = DeliveryListQuery(request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        deliveries = WebhookDelivery.objects.filter(workspace=self.workspace, endpoint=endpoint)
        if "status" in params:
            deliveries = deliveries.filter(status=params["status"])
        deliveries = deliveries.prefetch_related(attempts_prefetch())
        return page_response(
            request, deliveries, params, lambda page: DeliverySerializer(page, many=True).data
        )


class WebhookRedeliverView(WebhookAPIView):
    @extend_schema(
        operation_id="webhooks_redeliver",
        summary="Send a delivery again (admin)",
        description="A new delivery of the same event and payload with a new `webhook-id`, sent by a "
        "worker (never inside this request). An inactive endpoint is sent nothing: the new "
        "delivery then fails at once.",
        request=None,
        parameters=[WEBHOOK_ID, DELIVERY_ID] + response_headers(),
        responses={202: DeliverySerializer, **error_responses(404, 413, 415)},
        tags=["webhooks"],
    )
    def post(self, request, webhook_id, delivery_id):
        endpoint = self.get_webhook(webhook_id)
        delivery = WebhookDelivery.objects.filter(
            workspace=self.workspace, endpoint=endpoint, pk=delivery_id
        ).first()
        if delivery is None:
            raise not_found()
        require_no_body(request)
        copy = webhooks.redeliver(delivery)
        copy = WebhookDelivery.objects.prefetch_related(attempts_prefetch()).get(pk=copy.pk)
        return Response(DeliverySerializer(copy).data, status=202)
