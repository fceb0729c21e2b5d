"""The base of every v1 API view."""

from rest_framework import exceptions
from rest_framework.views import APIView

from jobsite.api.throttling import add_rate_limit_headers


def require_no_body(request) -> None:
    """An action endpoint (cancel, rotate, redeliver, …) takes no body: anything sent is
    a 400, so a client that thinks it passes options learns that it does not."""
    if request.data is None or request.data:
        raise exceptions.ValidationError({"non_field_errors": ["this action takes no body"]})


class WorkspaceAPIView(APIView):
    """Base of the v1 views. `self.workspace` is the resolved workspace: every queryset
    starts from it."""

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
