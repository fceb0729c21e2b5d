"""The base of every v1 API view."""

from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions
from rest_framework.views import APIView

from jobsite.api.throttling import add_rate_limit_headers


def require_no_body(request) -> None:
    """An action endpoint (cancel, rotate, redeliver, …) takes no body: anything sent is
    a 400, so a client that thinks it passes options learns that it does not."""
    if request.data is None or request.data:
        raise exceptions.ValidationError({"non_field_errors": ["this action takes no body"]})


# The base of the v1 views. `self.workspace` is the resolved workspace: every queryset
# starts from it. (A comment, not a docstring: drf-spectacular would give a docstring to
# every subclass's operations as their description.)
class WorkspaceAPIView(APIView):
    required_roles = {}

    @property
    def tenant(self):
        return self.request.tenant

    @property
    def workspace(self):
        return self.request.tenant.workspace

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_rate_limit_headers(request, response)
        return response


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema: YAML by default, JSON for `?format=json` or
    `Accept: application/json` (the API turns DRF's URL format override off everywhere
    else, so this view reads `format` itself)."""

    def perform_content_negotiation(self, request, force=False):
        wanted = request.query_params.get("format")
        for renderer in self.get_renderers():
            if wanted and renderer.format == wanted:
                return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)
